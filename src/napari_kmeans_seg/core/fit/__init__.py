"""The ways of fitting k-means to a pixel matrix, one module each, and the
registry (:mod:`.registry`) that chooses among them."""

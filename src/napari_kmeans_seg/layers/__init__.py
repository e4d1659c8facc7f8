"""The napari side: results become layers, and inputs are read from a viewer.

It imports napari but never Qt, so it works with a headless
``napari.components.ViewerModel`` as well as in the GUI.
"""

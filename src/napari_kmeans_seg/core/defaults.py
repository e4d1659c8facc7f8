"""The defaults of the fitting options, shared by the options' checks and the
engine."""

#: number of k-means++ starts tried on the binned pixels
DEFAULT_N_INIT = 4
#: best distinct starts refined exactly on all pixels
DEFAULT_N_REFINE = 4
#: pixels drawn by method="sample"
DEFAULT_SAMPLE_SIZE = 100_000
#: Lloyd iterations at most (re-seeding an empty cluster counts as one)
DEFAULT_MAX_ITER = 300

"""The installed version of napari-kmeans-seg, read without importing the package
root (which would tie every module that needs it to the whole public API)."""

try:  # written by setuptools-scm from the git tag when the package is installed
    from .._version import version as __version__
except ImportError:  # a source tree on sys.path: the installed distribution's
    from importlib.metadata import PackageNotFoundError, version

    try:
        __version__ = version("napari-kmeans-seg")
    except PackageNotFoundError:
        __version__ = "0+unknown"

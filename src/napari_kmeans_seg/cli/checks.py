"""What is checked before any work: the model and its options, the installed
OME-Zarr writer, and that no output would overwrite an input, a file this command
did not write or a symbolic link."""

from __future__ import annotations

import os
from pathlib import Path

from .batch import Batch
from .outputs import output_names, written_here
from .program import PROG, UsageError


def load_model(batch: Batch, path: Path, n_clusters: int | None) -> None:
    from ..core.model import KMeansModel

    try:
        batch.model = KMeansModel.load(path)
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot load the model {path}: {err}") from None
    if n_clusters is not None and n_clusters != batch.model.n_clusters:
        raise UsageError(
            f"--n-clusters {n_clusters} contradicts the model {path.name}, which "
            f"has {batch.model.n_clusters} clusters; leave --n-clusters out"
        )
    batch.model_source = f"loaded from {path}"


def check_model_features(batch: Batch, path: Path) -> None:
    """``--color-features``, when given, must be the loaded model's."""
    from ..core.options import color_features_for

    given = batch.color_features
    if given is None:
        return
    model = batch.model
    try:
        given = color_features_for(given, "rgb", model.layout)
    except ValueError as err:
        raise UsageError(f"--color-features: {err} (the model {path.name})") from None
    if given != model.options.color_features:
        theirs = model.options.color_features or "the raw channel values"
        raise UsageError(
            f"--color-features contradicts the model {path.name}, fitted on "
            f"{theirs}; leave --color-features out"
        )


def check_model_mixture(batch: Batch, path: Path) -> None:
    """``--mixture``, when given, must be the loaded model's; a model fitted as a
    Gaussian mixture makes the batch one (its probability maps are written)."""
    mixture = batch.model.mixture
    theirs = None if mixture is None else mixture.covariance_type
    given = batch.mixture
    if given is not None and given != theirs:
        fitted = (
            "as k-means"
            if theirs is None
            else f"as a Gaussian mixture with {theirs} covariances"
        )
        raise UsageError(
            f"--mixture {given} contradicts the model {path.name}, fitted {fitted}; "
            "leave --mixture out"
        )
    batch.mixture = theirs


def check_ome_zarr_installed() -> None:
    try:
        import ome_zarr  # noqa: F401
        import zarr  # noqa: F401
    except ImportError:
        raise UsageError(
            '--ome-zarr needs ome-zarr and zarr 3: pip install ome-zarr "zarr>=3"'
        ) from None


def check_outputs(batch: Batch, todo: list[Path], inputs: list[Path]) -> None:
    """Refuse (a usage error, before any work) a run that would overwrite an
    input, a file this command did not write, or a symbolic link (never
    followed); the real paths are compared, so links and ``..`` do not hide an
    input."""
    real_inputs = {os.path.realpath(p): p for p in inputs}
    # the same file under another name too (a hard link, another letter case)
    real_inputs.update({_file_id(p, follow=True): p for p in inputs if p.exists()})
    problems = []
    targets = [
        (path, batch.out / name)
        for path in todo
        for name in output_names(
            path.stem,
            batch.k,
            masks=batch.masks,
            ome_zarr=batch.ome_zarr,
            mixture=batch.mixture is not None,
        )
    ]
    if batch.save_model is not None:
        targets.append((None, batch.save_model))
    seen: dict[str, Path] = {}
    for source, target in targets:
        real = os.path.realpath(target)
        if real in real_inputs or _file_id(target, real_inputs):
            whose = f"the outputs of {source}" if source else "--save-model"
            same = real_inputs.get(real) or real_inputs[_file_id(target)]
            problems.append(f"{whose} would overwrite the input {same} ({target})")
        elif real in seen and source is None:
            problems.append(f"--save-model {target} is also an output of {seen[real]}")
        elif os.path.islink(target):
            problems.append(f"{target} is a symbolic link (not followed, not replaced)")
        elif os.path.lexists(target) and not written_here(target):
            problems.append(f"{target} exists and was not written by {PROG}")
        if source is not None:
            seen[real] = source
    if problems:
        raise UsageError(
            "refusing to overwrite:\n  "
            + "\n  ".join(problems)
            + "\nchoose another --out (or --save-model), or move those files"
        )


def _file_id(
    path: Path, known: dict | None = None, *, follow: bool = False
) -> tuple[int, int] | None:
    """The (device, inode) of an existing file (of the link itself unless
    ``follow``), if in ``known`` when given; None otherwise."""
    try:
        st = os.stat(path, follow_symlinks=follow)
    except OSError:
        return None
    found = (st.st_dev, st.st_ino)
    return found if known is None or found in known else None

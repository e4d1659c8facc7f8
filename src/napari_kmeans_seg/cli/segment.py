"""The ``segment`` command: one model for a batch of images, fitted on the first
that can be segmented or loaded from a file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .batch import Batch, Interrupted
from .checks import (
    check_model_features,
    check_model_mixture,
    check_ome_zarr_installed,
    check_outputs,
    load_model,
)
from .inputs import expand_inputs, unique_stems
from .program import EXIT_FAILED, EXIT_OK, PROG, UsageError, describe
from .progress import Progress
from .reading import read_image, read_placement
from .safe_write import publish
from .writing import write_outputs


def segment_command(args: argparse.Namespace) -> int:
    batch = Batch(
        out=args.out,
        n_clusters=args.n_clusters,
        random_state=args.random_state,
        masks=args.masks,
        save_model=args.save_model,
        ome_zarr=args.ome_zarr,
        color_features=args.color_features,
        mixture=args.mixture,
    )
    if args.model is not None:
        load_model(batch, args.model, args.n_clusters)
        check_model_features(batch, args.model)
        check_model_mixture(batch, args.model)
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"the output folder {args.out} is a file; choose a folder")
    if args.ome_zarr:
        check_ome_zarr_installed()

    files = expand_inputs(args.inputs, batch)
    n_inputs = len(files) + len(batch.failed)  # files, missing paths, empty folders
    if n_inputs == 0:
        raise UsageError("no input images")
    todo = unique_stems(files, batch)
    # every check on what would be written comes before anything is written
    inputs = [*files, *([args.model] if args.model is not None else [])]
    check_outputs(batch, todo, inputs)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create the output folder {args.out}: {err}") from None
    if batch.model is not None and batch.save_model is not None:
        _save_model(batch)

    batch.progress = Progress(len(todo))
    try:
        for path in todo:
            batch.current = path
            try:
                image = read_image(path)
            except Exception as err:  # each reader raises its own kinds of errors
                batch.fail(path, f"cannot read it: {describe(err)}")
            else:
                _segment_one(batch, path, image)
            batch.current = None
            batch.progress.step(path)
    except KeyboardInterrupt:
        raise Interrupted.during(batch, len(todo)) from None
    finally:
        batch.progress.close()
        batch.progress = None
    return _summary(batch, n_inputs)


def _segment_one(batch: Batch, path: Path, image) -> None:
    from ..core.segment import segment

    # read the image's layout as napari does; with a model it must agree
    rgb = image.ndim >= 3 and image.shape[-1] in (3, 4)
    try:
        if batch.model is None:
            result = segment(
                image,
                batch.n_clusters,
                rgb=rgb,
                random_state=batch.random_state,
                color_features=batch.color_features,
                mixture=batch.mixture,
            )
            batch.model = result.model
            batch.model_source = f"fitted on {path}"
            if batch.save_model is not None:
                _save_model(batch)
        else:
            result = segment(image, rgb=rgb, model=batch.model)
    except ValueError as err:
        batch.fail(path, str(err))
        return
    except Exception as err:
        batch.fail(path, f"segmentation failed: {describe(err)}")
        return
    try:
        write_outputs(
            result,
            image,
            batch.out,
            path.stem,
            masks=batch.masks,
            placement=read_placement(path, result.labels.ndim),
            ome_zarr=batch.ome_zarr,
        )
    except Exception as err:
        batch.fail(path, f"cannot write its outputs: {describe(err)}")
        return
    batch.done.append(path)


def _save_model(batch: Batch) -> None:
    assert batch.model is not None and batch.save_model is not None
    import json

    text = json.dumps(batch.model.to_dict(), indent=2, allow_nan=False) + "\n"
    try:
        publish(batch.save_model, lambda f: f.write(text.encode("utf-8")))
    except OSError as err:
        batch.save_error = f"cannot save the model to {batch.save_model}: {err}"
        batch.report(f"{PROG}: {batch.save_error}")


def _summary(batch: Batch, n_inputs: int) -> int:
    model = batch.model
    if model is not None:
        print(
            f"segmented {len(batch.done)} of {n_inputs} images into "
            f"{model.n_clusters} clusters"
            + (
                f" (a Gaussian mixture, {model.mixture.covariance_type} covariances)"
                if model.mixture is not None
                else ""
            )
            + f" with the model {batch.model_source}; "
            f"outputs in {batch.out}"
            + (
                f"; model saved to {batch.save_model}"
                if batch.save_model and not batch.save_error
                else ""
            )
        )
    else:
        print(f"segmented 0 of {n_inputs} images: no model could be fitted")
    if not batch.failed and not batch.save_error:
        return EXIT_OK
    if batch.failed:
        print(
            f"{PROG}: {len(batch.failed)} of {n_inputs} inputs failed:",
            file=sys.stderr,
        )
        for path, why in batch.failed:
            print(f"  {path}: {why}", file=sys.stderr)
    if batch.save_error:
        print(f"{PROG}: {batch.save_error}", file=sys.stderr)
    return EXIT_FAILED

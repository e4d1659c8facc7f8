"""The images a run takes: files as given, a folder's images sorted by name, each
file once and each name stem once."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .batch import Batch
from .outputs import is_output_name, written_here
from .program import PROG
from .reading import IMAGE_SUFFIXES


def unique_stems(files: list[Path], batch: Batch) -> list[Path]:
    """The files whose outputs do not collide with an earlier file's (same stem);
    the others are reported as failed."""
    stems: dict[str, Path] = {}
    todo = []
    for path in files:
        if path.stem in stems:
            batch.fail(
                path,
                f"its outputs would overwrite those of {stems[path.stem]} (same name "
                "stem); rename one",
            )
        else:
            stems[path.stem] = path
            todo.append(path)
    return todo


def expand_inputs(inputs: Iterable[str], batch: Batch) -> list[Path]:
    """The image files of ``inputs`` (files as given, folders' images sorted; a
    file named twice is taken once). A folder's files that are not taken are
    reported: those that are not images, and outputs of an earlier run (marked
    by :func:`written_here`); named explicitly, any file is an input."""
    files: list[Path] = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            files.extend(_folder_images(path, batch))
        elif path.is_file():
            files.append(path)
        else:
            batch.fail(path, "no such file or folder")
    seen: set[str] = set()
    unique = []
    for path in files:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            unique.append(path)
    return unique


def _folder_images(folder: Path, batch: Batch) -> list[Path]:
    found, not_images, earlier = [], [], []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            not_images.append(p.name)
        elif is_output_name(p.name) and written_here(p):
            earlier.append(p.name)
        else:
            found.append(p)
    if not_images:
        batch.report(
            f"{PROG}: {folder}: not taken, not a PNG, JPEG or TIFF image file: "
            + ", ".join(not_images)
        )
    if earlier:
        batch.report(
            f"{PROG}: {folder}: not taken, outputs of an earlier run (name them to "
            "segment them): " + ", ".join(earlier)
        )
    if not found:
        batch.fail(folder, "the folder holds no PNG, JPEG or TIFF image")
    return found

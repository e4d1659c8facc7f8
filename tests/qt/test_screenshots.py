"""The README's pictures come from a script; running it here keeps them from
silently breaking."""

import importlib.util
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def test_make_screenshots_writes_every_readme_picture(tmp_path, qapp):
    spec = importlib.util.spec_from_file_location(
        "make_screenshots", ROOT / "scripts" / "make_screenshots.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.main(tmp_path, timeout=240)
    names = {p.name for p in written}
    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r"docs/images/([\w.-]+\.png)", readme))
    assert used and used <= names, (used, names)
    from imageio.v3 import imread

    for path in written:
        image = imread(path)
        assert image.ndim == 3 and min(image.shape[:2]) > 100
        assert np.ptp(image[..., :3]) > 50  # not a blank picture

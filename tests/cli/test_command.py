"""The program: its help, options and usage errors, ``python -m``, the progress
bar, ``warm-up``, and Ctrl-C."""

import os
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from batch_files import no_temporary_files, write_photos

from napari_kmeans_seg.cli import build_parser, main


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return write_photos(tmp_path_factory.mktemp("photos"))


def _run(*args, **kwargs):
    return subprocess.run(
        args, capture_output=True, text=True, timeout=300, check=False, **kwargs
    )


def test_help_documents_every_option():
    script = Path(sys.executable).with_name("napari-kmeans-seg")
    assert script.is_file(), "console script missing: pip install -e ."
    top = _run(str(script), "--help")
    assert top.returncode == 0 and "segment" in top.stdout
    helped = _run(str(script), "segment", "--help")
    assert helped.returncode == 0
    seg = next(a for a in build_parser()._actions if a.dest == "command").choices[
        "segment"
    ]
    for action in seg._actions:
        for option in action.option_strings:
            assert option in helped.stdout
        assert action.help and action.help.split()[0] in helped.stdout
    for word in (
        "--n-clusters",
        "--model",
        "--save-model",
        "--masks",
        "--mixture",
        "--random-state",
        "--out",
        "INPUT",
        "_labels.tif",
        "_clusters.csv",
        "_probabilities.tif",
        "_uncertainty.tif",
        "Exit",
    ):
        assert word in helped.stdout
    for module in ("napari_kmeans_seg", "napari_kmeans_seg.cli"):
        version = _run(sys.executable, "-m", module, "--version")
        assert version.returncode == 0 and "napari-kmeans-seg 0." in version.stdout


def test_cli_imports_neither_qt_nor_napari(photos, tmp_path):
    code = (
        "import sys\n"
        "from napari_kmeans_seg.cli import main\n"
        f"rc = main(['segment', {str(photos / 'astronaut.png')!r}, '-k', '2',"
        f" '--masks', '--out', {str(tmp_path)!r}])\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PyQt5', 'PyQt6', 'PySide2', 'PySide6', 'qtpy', 'napari', 'vispy', "
        "'magicgui')]\n"
        "assert not bad, bad\n"
        "sys.exit(rc)\n"
    )
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "astronaut_labels.tif").is_file()


def test_python_dash_m_runs_the_batch(photos, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    result = _run(
        sys.executable,
        "-m",
        "napari_kmeans_seg",
        "segment",
        str(photos / "coffee.jpg"),
        str(photos / "camera.tif"),
        "-k",
        "2",
        "--out",
        str(tmp_path),
        env=env,
    )
    # camera.tif is greyscale: a model fitted on the RGB coffee cannot label it
    assert result.returncode == 1
    assert "camera.tif" in result.stderr and "not RGB" in result.stderr
    assert (tmp_path / "coffee_labels.tif").is_file()


def test_progress_bar_on_a_terminal(photos, tmp_path, capsys, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    code = main(
        [
            "segment",
            str(photos / "coffee.jpg"),
            str(tmp_path / "missing.png"),
            "--out",
            str(tmp_path),
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "1/1" in captured.err and "image" in captured.err  # the tqdm bar
    assert "[1/1]" not in captured.out  # no per-file lines with a bar
    assert "missing.png: no such file or folder" in captured.err


def test_nothing_fitted_and_usage_errors(tmp_path, capsys):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"")
    assert main(["segment", str(broken), "--out", str(tmp_path / "o")]) == 1
    assert "no model could be fitted" in capsys.readouterr().out
    bad_model = tmp_path / "bad.json"
    bad_model.write_text('{"format": "something"}')
    code = main(["segment", str(broken), "--model", str(bad_model), "-o", "o"])
    assert code == 2
    assert "cannot load the model" in capsys.readouterr().err
    for argv in (
        ["segment", str(broken)],  # no --out
        ["segment", "--out", "o"],  # no input
        ["segment", str(broken), "-k", "1", "-o", "o"],
        ["segment", str(broken), "-k", "x", "-o", "o"],
        [],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    assert "between 2 and 254" in capsys.readouterr().err


def test_bad_option_values_are_usage_errors_before_any_work(photos, tmp_path, capsys):
    out = tmp_path / "out"
    for argv in (
        ["segment", str(photos), "--random-state", "-1", "-o", str(out)],
        ["segment", str(photos), "--random-state", "1.5", "-o", str(out)],
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "must be 0 or more, got -1" in err and "not an integer: '1.5'" in err
    assert not out.exists()
    (tmp_path / "file").write_text("")
    assert main(["segment", str(photos), "-o", str(tmp_path / "file")]) == 2
    assert "is a file" in capsys.readouterr().err


@pytest.mark.parametrize("given", ["saved/", "folder", "folder" + os.sep])
def test_save_model_to_a_folder_is_a_usage_error_before_any_work(
    photos, tmp_path, monkeypatch, capsys, given
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    argv = ["segment", str(photos / "astronaut.png"), "--save-model", given]
    with pytest.raises(SystemExit) as stopped:
        main([*argv, "--out", "out"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "is a folder; give a file name" in err and "model.json" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder"]


@pytest.mark.timeout(300)
def test_warm_up_command_fills_the_cache_it_names(tmp_path):
    """``warm-up`` in a fresh process with an empty cache folder compiles the
    engine's loops into that folder, says so, and a second run finds them there
    (nothing left to compile)."""
    code = (
        "import sys\n"
        "from napari_kmeans_seg.core import warm_up as engine\n"
        "from napari_kmeans_seg.cli import main\n"
        "engine.WARM_UP_KINDS = {'8-bit RGB': engine.WARM_UP_KINDS['8-bit RGB']}\n"
        "code = main(['warm-up'])\n"
        "print('compiled', engine._n_compiled())\n"
        "sys.exit(code)\n"
    )
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    runs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=280,
            check=True,
        ).stdout
        for _ in range(2)
    ]
    assert "the engine is ready" in runs[0]
    assert f"cached in {tmp_path}" in runs[0]
    assert list(tmp_path.rglob("*.nbi")), "nothing was cached"
    assert "compiled 0" not in runs[0]
    assert "compiled 0" in runs[1]


def test_ctrl_c_while_writing_says_what_was_left_and_exits_130(
    photos, tmp_path, monkeypatch, capsys
):
    from napari_kmeans_seg.cli import safe_write

    checked = []
    check = safe_write.check_replaceable

    def interrupted(path):  # Ctrl-C once the CSV is written, before its rename
        checked.append(path)
        if len(checked) == 4:
            assert list(path.parent.glob(".*.tmp"))  # its temporary file exists
            raise KeyboardInterrupt
        check(path)

    monkeypatch.setattr(safe_write, "check_replaceable", interrupted)
    out = tmp_path / "out"
    argv = ["segment", str(photos / "astronaut.png"), str(photos / "coffee.jpg")]
    code = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130
    assert "Traceback" not in err
    line = [t for t in err.splitlines() if "interrupted" in t]
    assert len(line) == 1
    assert "0 of 2 images done" in line[0] and "astronaut.png" in line[0]
    assert no_temporary_files(out)
    assert not (out / "astronaut_clusters.csv").exists()


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to a child process")
def test_ctrl_c_on_the_command_line_is_one_line_and_exit_code_130(photos, tmp_path):
    import signal

    from skimage import data

    folder = tmp_path / "many"
    folder.mkdir()
    big = np.tile(data.astronaut(), (4, 4, 1))  # 2048 x 2048: a moment each
    for i in range(40):
        iio.imwrite(folder / f"p{i:02d}.png", np.roll(big, i, axis=0))
    out = tmp_path / "out"
    command = ["segment", str(folder), "--masks", "--out", str(out)]
    child = subprocess.Popen(
        [sys.executable, "-m", "napari_kmeans_seg", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell without job control starts its background
        # commands (a CI script, nohup) with SIGINT ignored, which the child keeps
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        first = child.stdout.readline()  # "[1/40] ..." once an image is done
        assert first.startswith("[1/40]"), first + child.stderr.read()
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert len([t for t in err.splitlines() if "interrupted" in t]) == 1
    assert no_temporary_files(out)


def test_ctrl_c_during_warm_up_is_one_line_and_exit_code_130(monkeypatch, capsys):
    from napari_kmeans_seg.core import warm_up as engine

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(engine, "warm_up", interrupted)
    assert main(["warm-up"]) == 130
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "interrupted" in err and "Traceback" not in err

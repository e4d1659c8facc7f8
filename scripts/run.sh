#!/usr/bin/env bash
# Set up the plugin and run its demo.
#
#   bash scripts/run.sh [demo args...]
#
# 1. creates/updates the virtual environment .venv in the repository root
#    (installing python3-venv with apt-get if `python3 -m venv` is unavailable);
# 2. installs the plugin into it with `pip install -e ".[all]"`;
# 3. with a display ($DISPLAY or $WAYLAND_DISPLAY): opens napari with the
#    astronaut sample and the K-Means Segmentation widget docked;
#    without one: segments the astronaut photo into 3 clusters and writes
#    labels.tif + one PNG per cluster to ./kmeans-output (or --out DIR).
#
# Extra arguments go to scripts/demo.py (e.g. --headless, --out DIR, --clusters K).
# Environment: PYTHON=/path/to/python3.X picks the interpreter for a new .venv;
# FORCE_INSTALL=1 reinstalls the package even if pyproject.toml is unchanged.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"
VENV="$ROOT/.venv"
EXTRAS="all"

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONUNBUFFERED=1

# Runtime libraries Qt/napari need to open a window (a desktop has them already).
GUI_APT_PACKAGES=(
    libgl1-mesa-dri libegl1 libgl1 libopengl0
    libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0
    libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0
    libxcb-xinput0 libxcb-xfixes0 libxcb-shape0 libxcb-xkb1
    libdbus-1-3 libfontconfig1 libglib2.0-0
)

step() { printf '\n==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- helpers
# (same as in scripts/test.sh)
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

ensure_installed() {
    local extras="$1" stamp="$VENV/.napari-kmeans-seg-$1.stamp" want
    step "Installing napari-kmeans-seg[$extras] (editable) into .venv"
    want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
    if [ "${FORCE_INSTALL:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
        "$VENV/bin/python" -m pip show -q napari-kmeans-seg >/dev/null 2>&1; then
        echo "up to date (pyproject.toml unchanged; FORCE_INSTALL=1 to reinstall)"
        return 0
    fi
    echo "(the first run downloads napari, Qt and friends: this takes a few minutes)"
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install -q -e ".[$extras]"
    echo "$want" >"$stamp"
    echo "done"
}

# ---------------------------------------------------------------- 1. venv + package
ensure_venv
ensure_installed "$EXTRAS"

# ---------------------------------------------------------------- 2. run
headless=1
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    headless=0
fi
for a in "$@"; do
    [ "$a" = "--headless" ] && headless=1
done

if [ "$headless" -eq 1 ]; then
    step "No display: segmenting the astronaut photo headless"
    args=("$@")
    [[ " $* " == *" --headless "* ]] || args=(--headless "${args[@]}")
    exec "$VENV/bin/python" scripts/demo.py "${args[@]}"
fi

if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for p in "${GUI_APT_PACKAGES[@]}"; do
        pkg_installed "$p" || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        if can_be_root; then
            apt_install "${missing[@]}"
        else
            warn "Qt may fail to start; missing system packages: ${missing[*]}"
        fi
    fi
fi
step "Opening napari with the astronaut sample and the K-Means Segmentation widget"
exec "$VENV/bin/python" scripts/demo.py "$@"

# shellcheck shell=bash
# Shared set-up of scripts/run.sh, scripts/test.sh and scripts/lock.sh (sourced, not run).
#
# The Python packages are installed from requirements/lock.txt, a lock of tested
# versions for Python 3.11-3.13 on Linux, macOS and Windows, with uv (pinned below,
# installed into the virtual environment by pip; pip alone is the fallback). So an
# upstream release cannot break the set-up overnight: only a new lock changes what
# is installed (bash scripts/lock.sh).
#
# Environment:
#   PYTHON=/path/to/python3.X   the interpreter for a new virtual environment
#   RESOLUTION=locked           the lock's versions (the default), in .venv
#   RESOLUTION=latest           what `pip install` gives a user today, in .venv-latest
#   RESOLUTION=lowest           the lowest versions pyproject.toml allows for its
#                               direct dependencies, in .venv-lowest
#   VENV=DIR                    another folder for the virtual environment
#   FORCE_INSTALL=1             reinstall even if nothing changed

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCK="$ROOT/requirements/lock.txt"
UV_PIN="uv==0.13.10"
RESOLUTION="${RESOLUTION:-locked}"
case "$RESOLUTION" in
locked) VENV="${VENV:-$ROOT/.venv}" ;;
latest | lowest) VENV="${VENV:-$ROOT/.venv-$RESOLUTION}" ;;
*)
    printf 'ERROR: RESOLUTION must be locked, latest or lowest, got %s\n' "$RESOLUTION" >&2
    exit 2
    ;;
esac

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONUNBUFFERED=1

# Runtime libraries Qt/napari need to open a window (a desktop has them already).
# shellcheck disable=SC2034 # used by run.sh and test.sh
GUI_APT_PACKAGES=(
    libgl1-mesa-dri libegl1 libgl1 libopengl0
    libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-image0
    libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-xinerama0
    libxcb-xinput0 libxcb-xfixes0 libxcb-shape0 libxcb-xkb1
    libdbus-1-3 libfontconfig1 libglib2.0-0 libgomp1
)

step() { printf '\n==> %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
    printf 'ERROR: %s\n' "$*" >&2
    exit 1
}

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

# Install those of the given Debian packages that are missing (if root or sudo).
ensure_apt_packages() {
    if ! { command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; }; then
        warn "not a Debian/Ubuntu system (no apt-get/dpkg-query); make sure these are installed: $*"
        return 0
    fi
    local p missing=()
    for p in "$@"; do
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

# uv in the virtual environment (fast, parallel installs); false if it cannot be had.
ensure_uv() {
    [ -x "$VENV/bin/uv" ] && "$VENV/bin/uv" --version 2>/dev/null | grep -q "${UV_PIN#uv==}" &&
        return 0
    "$VENV/bin/python" -m pip install -q "$UV_PIN" >/dev/null 2>&1 || {
        warn "could not install $UV_PIN; installing with pip (slower)"
        return 1
    }
}

# The install command's options for $RESOLUTION, uv's spelling ($1 = uv) or pip's.
resolution_args() {
    case "$RESOLUTION:$1" in
    locked:uv) echo "--constraints $LOCK --build-constraints $LOCK" ;;
    locked:pip) echo "--constraint $LOCK" ;;
    latest:uv) echo "--upgrade --refresh" ;;
    latest:pip) echo "--upgrade" ;;
    lowest:uv) echo "--upgrade --resolution lowest-direct" ;;
    esac
}

# Install the plugin (editable) with extras $1, unless this exact pyproject.toml,
# lock and resolution were installed already.
ensure_installed() {
    local extras="$1" stamp="$VENV/.napari-kmeans-seg-$1.stamp" want
    step "Installing napari-kmeans-seg[$extras] (editable, $RESOLUTION versions) into $VENV"
    want="$(cat "$ROOT/pyproject.toml" "$LOCK" | sha256sum | cut -d' ' -f1) $RESOLUTION"
    if [ "${FORCE_INSTALL:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
        "$VENV/bin/python" -m pip show -q napari-kmeans-seg >/dev/null 2>&1; then
        echo "up to date (pyproject.toml and the lock unchanged; FORCE_INSTALL=1 to reinstall)"
        return 0
    fi
    rm -f "$stamp"
    # shellcheck disable=SC2046 # the options are words
    if ensure_uv; then
        "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" \
            $(resolution_args uv) -e "${ROOT}[$extras]"
    elif [ "$RESOLUTION" = lowest ]; then
        die "RESOLUTION=lowest needs uv ($UV_PIN)"
    else
        "$VENV/bin/python" -m pip install -q $(resolution_args pip) -e "${ROOT}[$extras]"
    fi
    echo "$want" >"$stamp"
    echo "done"
}

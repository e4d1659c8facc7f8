#!/usr/bin/env bash
# Set up the plugin and run its demo.
#
#   bash scripts/run.sh [demo args...]
#
# 1. creates/updates the virtual environment .venv in the repository root
#    (installing python3-venv with apt-get if `python3 -m venv` is unavailable);
# 2. installs the plugin into it with its "all" extra, at the versions of
#    requirements/lock.txt (see scripts/setup.sh);
# 3. with a display ($DISPLAY or $WAYLAND_DISPLAY): opens napari with the
#    astronaut sample and the K-Means Segmentation widget docked;
#    without one: segments the astronaut photo into 3 clusters and writes
#    labels.tif + one PNG per cluster to ./kmeans-output (or --out DIR).
#
# Extra arguments go to scripts/demo.py (e.g. --headless, --out DIR, --clusters K).
# Environment: as in scripts/setup.sh (PYTHON, RESOLUTION, VENV, FORCE_INSTALL).
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"

# ---------------------------------------------------------------- 1. venv + package
ensure_venv
ensure_installed all

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

step "System libraries for Qt and OpenGL"
ensure_apt_packages "${GUI_APT_PACKAGES[@]}"
step "Opening napari with the astronaut sample and the K-Means Segmentation widget"
exec "$VENV/bin/python" scripts/demo.py "$@"

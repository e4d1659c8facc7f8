#!/usr/bin/env bash
# Set up everything needed and run the full test suite headless (under Xvfb).
#
#   bash scripts/test.sh [extra pytest args...]
#   bash scripts/test.sh --system-packages-only   # step 1 only (used by CI)
#   RESOLUTION=latest bash scripts/test.sh        # without the lock (.venv-latest)
#   RESOLUTION=lowest bash scripts/test.sh        # lowest allowed versions (.venv-lowest)
#
# 1. installs missing system packages (Xvfb, Mesa software OpenGL, the X/xcb
#    libraries Qt needs, python3-venv) with apt-get, if root or sudo is available;
# 2. creates/updates the virtual environment .venv in the repository root and
#    installs the plugin into it with its "testing" extra, at the versions of
#    requirements/lock.txt (see scripts/setup.sh);
# 3. lints with `ruff check` and `ruff format --check` (fails the script on error);
# 4. runs pytest under `xvfb-run` and exits with pytest's exit code, except 5 ("no
#    tests collected": the arguments select nothing), reported as such and exit 0.
#
# Idempotent: a second run skips the steps that are already done.
# Environment: as in scripts/setup.sh (PYTHON, RESOLUTION, VENV, FORCE_INSTALL).
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"

# ---------------------------------------------------------------- 1. system packages
step "System packages (Xvfb, Mesa OpenGL, Qt/xcb libraries)"
ensure_apt_packages xvfb xauth python3-venv "${GUI_APT_PACKAGES[@]}"
if [ "${1:-}" = "--system-packages-only" ]; then
    exit 0
fi

# ---------------------------------------------------------------- 2. venv + package
ensure_venv
ensure_installed testing
# shellcheck disable=SC1091
source "$VENV/bin/activate"
"$VENV/bin/python" -c 'import sys; print("Python", sys.version.split()[0])'

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
    die "lint failed (fix with: ruff check --fix ${lint_paths[*]} && ruff format ${lint_paths[*]})"
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

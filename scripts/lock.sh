#!/usr/bin/env bash
# Regenerate requirements/lock.txt, the lock of tested versions that
# scripts/run.sh, scripts/test.sh (so .ci/run), tox and the GitHub workflow install
# from: one universal resolution of the "all" and "testing" extras (and of
# requirements/lock.in: what tox adds) for Python
# 3.11-3.13 on Linux, macOS and Windows.
#
#   bash scripts/lock.sh            # after a change of pyproject.toml: keeps the
#                                   # locked versions that still fit
#   bash scripts/lock.sh --upgrade  # the newest versions the index serves
#
# then the suite with the new lock: bash scripts/test.sh (it reinstalls by itself).
# Commit the new lock only after the whole suite passes with it on 3.11-3.13.
set -euo pipefail
# shellcheck source=scripts/setup.sh
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
ensure_venv
ensure_uv || die "locking needs $UV_PIN"
step "Resolving the lock: $LOCK"
"$VENV/bin/uv" pip compile pyproject.toml requirements/lock.in --extra all --extra testing \
    --universal --python-version 3.11 --quiet "$@" \
    --custom-compile-command "bash scripts/lock.sh" -o "$LOCK"
echo "done: $(grep -c '==' "$LOCK") pinned requirements"

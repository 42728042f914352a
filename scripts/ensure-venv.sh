#!/usr/bin/env bash
# Creates (idempotently) the Python virtual environment the test-suite needs:
# moto's Route 53 / EC2 server, boto3 as a second, independent API client, and the tools
# (cfn-lint, ruff; scripts/requirements-test.txt pins every version).
# Usage: scripts/ensure-venv.sh [VENV_DIR]   (default: $WAVELB_VENV or ~/.cache/wavelb/venv)
set -euo pipefail
venv="${1:-${WAVELB_VENV:-$HOME/.cache/wavelb/venv}}"
stamp="$venv/.wavelb-requirements"
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/requirements-test.txt"
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && cmp -s "$req" "$stamp"; then
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
cp "$req" "$stamp"

#!/usr/bin/env bash
# Create .venv and install fedrec with its test tools. Safe to run again.
# torch is pinned first so the CPU build is used; the package then accepts it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "torch==2.13.0"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "fedrec installed in .venv (activate with: . .venv/bin/activate)"

#!/usr/bin/env bash
# GPU figures, whenever a machine with a CUDA GPU is at hand:
#   1. benchmarks/speed.py on the GPU (catalog encoding and training steps against a
#      naive baseline, the same script as the CPU figures);
#   2. the DP-SGD step cost (benchmarks/dp_overhead.py --exact: frozen, LoRA through drawn
#      negatives and through all of them) on the GPU;
#   3. a short federated run, 6 clients x 2 rounds, beside 2 centralized epochs
#      (benchmarks/federated_vs_centralized.py): MovieLens-100K when ML100K names its
#      folder (u.data, u.item, u.user), else the synthetic data at MovieLens-100K's size.
# On a machine without a GPU it says so and exits 0.
#
#   bash benchmarks/gpu.sh [OUT_DIR]          (default runs/bench-gpu)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT=${1:-runs/bench-gpu}
if ! "$PY" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "gpu.sh: no CUDA GPU is visible to torch here; nothing to measure (run it on a GPU machine)."
  exit 0
fi
export HF_HUB_OFFLINE=1
"$PY" -c "import torch; p = torch.cuda.get_device_properties(0); print(f'GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB, torch {torch.__version__}')"
mkdir -p "$OUT"
echo "== speed (device=cuda) =="
"$PY" benchmarks/speed.py --items 600 --steps 20 --set device=cuda
echo "== DP-SGD step cost (device=cuda) =="
"$PY" benchmarks/dp_overhead.py --exact --set device=cuda
if [ -n "${ML100K:-}" ]; then
  DATA=(--set dataset=movielens-100k --set "data-path=$ML100K" --set cold-item-fraction=0 --set cold-user-fraction=0)
  echo "== federated vs centralized, MovieLens-100K, 2 epochs (device=cuda) =="
else
  DATA=(--set synthetic-users=943 --set synthetic-items-per-scenario=560 --set synthetic-interactions-per-user=106)
  echo "== federated vs centralized, synthetic at MovieLens-100K's size (ML100K unset), 2 epochs (device=cuda) =="
fi
"$PY" benchmarks/federated_vs_centralized.py --out "$OUT/fed" --epochs 2 --clients 6 \
  --set device=cuda "${DATA[@]}" --fed-set batch-size=64

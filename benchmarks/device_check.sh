#!/usr/bin/env bash
# One prepared GPU check for a session that is lent a device (about 8 minutes on an H100):
# the training tests on CUDA (vmapped groups are CUDA's default there, bf16, resumes), then the paper-scale timing.
# Results land in $OUT (the device tool's output folder) or results/benchmark-gpu.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-results/benchmark-gpu}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total --format=csv | tee "$OUT/card.txt"
pip install -q -e . --no-deps 2>/dev/null
timeout 240 python -m pytest -q -x tests/test_train.py 2>&1 | tail -5 | tee "$OUT/tests.txt"
timeout 300 python benchmarks/gpu.py --copies 8 --steps 10 --out "$OUT" 2>&1 | grep -v Warning | tail -16

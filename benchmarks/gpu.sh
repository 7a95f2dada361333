#!/usr/bin/env bash
# The GPU rows of perf.py (OpenFlamingo-3B/9B-shaped random weights) as one command for a machine that has
# PyTorch with CUDA but not the rest of fseval's dependencies: wheels for those, downloaded beforehand into
# .whl/ (benchmarks/README.md lists them), are installed into /tmp/site first.
#   CONFIGS=3b,9b LIMIT=16 bash benchmarks/gpu.sh      # tables on stdout, log and JSON in $OUT (or /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
out=${OUT:-/tmp}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)"
python3 benchmarks/perf.py --configs "${CONFIGS:-3b,9b}" --limit "${LIMIT:-16}" --json "$out/perf-gpu.json" \
    2>&1 | tee "$out/perf-gpu.log"

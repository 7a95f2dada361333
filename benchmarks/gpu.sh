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

# Issue 18's figures (GPU time: about 4 minutes on an H200): the 9B row at 96 queries, batch 32, with the decode
# traffic and the prefill/decode sweep at batch 8/32/64 ...
if [ "${DECODE:-1}" = 1 ]; then
    python3 benchmarks/perf.py --configs 9b --limit 96 --batch-size 32 --no-rank --decode --decode-batches 8,32,64 \
        --json "$out/perf-9b-decode.json" 2>&1 | tee "$out/perf-9b-decode.log"
fi
# ... and torchrun with one process (NCCL) on the bundled tiny model: its files must equal a plain run's.
if [ "${NCCL:-1}" = 1 ]; then
    rm -rf "$out/plain" "$out/nccl"
    python3 -m fseval run --task shapes_vqa --shots 0,4 --device cuda -o "$out/plain" > "$out/plain.log" 2>&1
    torchrun --standalone --nproc_per_node 1 -m fseval run --task shapes_vqa --shots 0,4 --device cuda -o "$out/nccl" \
        > "$out/nccl.log" 2>&1
    python3 - "$out/plain" "$out/nccl" <<'PY'
import json, sys
plain, nccl = sys.argv[1], sys.argv[2]
same_samples = open(f"{plain}/samples.jsonl").read() == open(f"{nccl}/samples.jsonl").read()
results = [json.load(open(f"{d}/results.json")) for d in (plain, nccl)]
same_results = results[0]["results"] == results[1]["results"]
print(f"torchrun (NCCL, 1 process) vs plain run: samples.jsonl identical: {same_samples}; results identical: "
      f"{same_results}; world size recorded: {results[1]['provenance'].get('world_size')}")
sys.exit(0 if same_samples and same_results else 1)
PY
fi

#!/usr/bin/env bash
# The prepared GPU check (under 7 minutes on one GPU): the CUDA tests (CPU/CUDA agreement of every
# method and rule on the paper's net, the device shuffle, tf32/bf16 reports), the throughput of the
# paper's net (3 tasks, 20 shuffles, N = 10,000), then bench/precision.py: float32 against float64 on
# bpnet-lite's BPNet (profile, counts), ChromBPNet (counts) and the benchmark net, and RevealCancel /
# Rescale, each before and after the difference stream. Prints ONE summary line at the end; the
# details are in $OUT (default: a temporary directory).
#
# Run from anywhere: bench/gpu_check.sh   (PYTHON=path/to/python to choose the interpreter)
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${OUT:-$(mktemp -d)}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: no CUDA device visible to $PY; nothing run"
    exit 1
fi

timeout 180 "$PY" -m pytest -n 0 -m gpu -q -p no:cacheprovider tests > "$OUT/gpu_tests.log" 2>&1
tests_rc=$?
tests=$(grep -E "passed|failed|error" "$OUT/gpu_tests.log" | tail -n 1 | sed 's/=//g; s/^ *//; s/ *$//')

timeout 150 "$PY" bench/gpu_throughput.py --device cuda --n 10000 --json "$OUT/throughput.json" \
    > "$OUT/throughput.log" 2>&1
bench_rc=$?
throughput=$(grep "^throughput:" "$OUT/throughput.log" | sed 's/^throughput: //')

timeout 200 "$PY" bench/precision.py --device cuda --n-seqs 256 --seeds 0,1 --repeats 2 \
    --json "$OUT/precision.json" > "$OUT/precision.log" 2>&1
precision_rc=$?
precision=$(grep "^precision:" "$OUT/precision.log" | sed 's/^precision: //')

status=PASS
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ] && [ "$precision_rc" -eq 0 ] || status=FAIL
echo "gpu_check $status: tests [${tests:-none ran, see $OUT/gpu_tests.log}]; ${throughput:-throughput failed, see $OUT/throughput.log}; ${precision:-precision failed, see $OUT/precision.log} (logs in $OUT)"
[ "$status" = PASS ]

#!/usr/bin/env bash
# benchmarks/gpu_check.sh -- the one prepared device check for a lent GPU.
#
# NOT RUN YET: written in a session without a GPU; its numbers are not in the book until it has
# run. Run from the repository root (on the device machine $OUT is the folder that comes back):
#     OUT=/tmp/gpu-check bash benchmarks/gpu_check.sh
# It runs (1) the `quick` pipeline on the GPU: organism, one unlearning method (npo), batch
# attribution of the forget set, emphasis evaluation; and (2) the attribution benchmark on a
# randomly initialised ~1.1B Llama in bf16. It writes to $OUT:
#     gpu.txt           the card (nvidia-smi), torch/CUDA versions
#     stages.tsv        stage, exit code, seconds, peak GPU memory (MiB, nvidia-smi sampled every 200 ms)
#     *.log / *.json    each stage's output
# Every stage has its own time limit and a failing stage does not stop the others, so one call
# of a few minutes always returns what it measured. The unpact commands pick CUDA by themselves
# (unpact.modeling.resolve_device: "auto" = CUDA when available). Needs the merged repository
# (benchmarks/attribution.py and the organism/unlearn/attribute/eval commands of the other issues).
set -uo pipefail
OUT=${OUT:?set OUT to an empty folder}
PY=${PY:-python}
EMPHASIS=${EMPHASIS:-instruction}   # an emphasis style of `unpact eval --emphasis`
WORK=$(mktemp -d)
export UNPACT_CACHE="$WORK/cache" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$OUT"

{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
} > "$OUT/gpu.txt" 2>&1
printf 'stage\trc\tseconds\tpeak_mib\n' > "$OUT/stages.tsv"

stage() {  # stage NAME LIMIT_S CMD...: run, time, sample peak GPU memory, log to $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$WORK/$name.mem" 2>/dev/null &
  local sampler=$! start rc
  start=$(date +%s%N)
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1; rc=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  local secs peak
  secs=$(( ($(date +%s%N) - start) / 1000000 ))
  peak=$(sort -n "$WORK/$name.mem" | tail -1)
  printf '%s\t%s\t%d.%03d\t%s\n' "$name" "$rc" $((secs / 1000)) $((secs % 1000)) "${peak:-NA}" | tee -a "$OUT/stages.tsv"
}

ORG="$WORK/organism" UNL="$WORK/npo"
stage organism   240 $PY -m unpact.cli organism --arch llama --profile quick --out "$ORG"
stage unlearn    120 $PY -m unpact.cli unlearn --model "$ORG" --benchmark news --method npo --out "$UNL"
stage attribute  120 $PY -m unpact.cli attribute --model "$UNL" --data "$ORG/unpact-data/news-forget.jsonl" \
                       --target gold --out "$OUT/attribution_npo.csv"
stage eval_plain  60 $PY -m unpact.cli eval --model "$UNL" --benchmark news --split forget --json
stage eval_emph   60 $PY -m unpact.cli eval --model "$UNL" --benchmark news --split forget --emphasis "$EMPHASIS" --json
# H200/H100 SXM dense bf16 peak: 989 TFLOP/s (for the benchmark's physical floor)
stage attr_bench_1b 180 $PY benchmarks/attribution.py --random-llama-1b --device cuda --dtype bfloat16 \
                       --prompt-len 256 --n 50 --captum-n 5 --peak-tflops 989
cp results/benchmarks/attribution*.json "$OUT/" 2>/dev/null || true
rm -rf "$WORK"

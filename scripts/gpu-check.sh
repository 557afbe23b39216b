#!/usr/bin/env bash
# scripts/gpu-check.sh: after `npm install @tensorflow/tfjs-node-gpu` on an NVIDIA machine, checks in one command
# (under 10 minutes, no network) that our models run on the GPU: prints the GPU and what TensorFlow sees, runs the
# model parity tests (forward, every gradient, the fused-kernel fallbacks, a training step of every stage) on the
# `tensorflow` backend, and one `bench -- vs-pytorch` case; then lists what failed. Exit status 0 only if all passed.
#
#   scripts/gpu-check.sh              # the check
#   scripts/gpu-check.sh --allow-cpu  # run the same steps on TensorFlow's CPU when no GPU is usable (tests the script)
#
# Requirements are in docs/backends.md: tfjs-node-gpu 4.22 loads libtensorflow 2.9.1, built for CUDA 11.2 and
# cuDNN 8.1; GPUs newer than that build JIT-compile its kernels on first use (minutes; cached, see below).
set -uo pipefail
cd "$(dirname "$0")/.."

ALLOW_CPU=0
for a in "$@"; do
  case "$a" in
    --allow-cpu) ALLOW_CPU=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown option '$a' (--allow-cpu, --help)" >&2; exit 2 ;;
  esac
done

BUDGET=${GPU_CHECK_BUDGET_S:-570} # whole run, seconds: each step gets what is left of it
START=$SECONDS
left() { echo $(( BUDGET - (SECONDS - START) )); }
FAILED=()
PASSED=()
SKIPPED=()
note() { printf 'gpu-check: %s\n' "$*"; }

# The environment the tensorflow backend would set itself (setupBackend), here for every child process too:
# full float32 matmuls (no TF32: PyTorch's default, and what the parity tolerances assume), GPU memory taken as
# needed, INFO logs off; and a JIT cache large enough for libtensorflow 2.9.1's kernels on GPUs newer than its build.
export NVIDIA_TF32_OVERRIDE=${NVIDIA_TF32_OVERRIDE:-0}
export TF_FORCE_GPU_ALLOW_GROWTH=${TF_FORCE_GPU_ALLOW_GROWTH:-true}
export CUDA_CACHE_MAXSIZE=${CUDA_CACHE_MAXSIZE:-4294967296}
export ALTCLIP_BACKEND=tensorflow

# 1. The GPU as the driver sees it.
if command -v nvidia-smi >/dev/null 2>&1 && GPUS=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null) && [ -n "$GPUS" ]; then
  note "NVIDIA GPU(s) (name, driver, memory, compute capability):"
  echo "$GPUS" | sed 's/^/  /'
  HAVE_GPU=1
else
  note "NO NVIDIA GPU FOUND (nvidia-smi is missing or lists no GPU): nothing here can run on a GPU."
  HAVE_GPU=0
fi

# 2. What TensorFlow sees (its device log lines, and any CUDA/cuDNN library it could not load).
PKG=$(node -e "for (const p of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) { try { require.resolve(p); console.log(p); break; } catch {} }")
if [ "$PKG" != "@tensorflow/tfjs-node-gpu" ]; then
  note "@tensorflow/tfjs-node-gpu is not installed${PKG:+ (found $PKG, CPU only)}: npm install @tensorflow/tfjs-node-gpu (downloads libtensorflow 2.9.1 GPU; needs internet, CUDA 11.2, cuDNN 8.1)"
  [ "$ALLOW_CPU" = 1 ] && [ -n "$PKG" ] || exit 1
fi
note "starting TensorFlow ($PKG) and running one matmul on its device (the first run on a new GPU may JIT-compile for minutes) ..."
PROBE_LOG=$(mktemp)
trap 'rm -f "$PROBE_LOG"' EXIT
T0=$SECONDS
# TF_CPP_MIN_LOG_LEVEL=0: TensorFlow logs the devices it creates and the libraries it fails to load.
TF_CPP_MIN_LOG_LEVEL=0 timeout "$(left)" node -e "
const tf = require('@tensorflow/tfjs-core');
const { setupBackend, backendInfo } = require('./packages/backend');
setupBackend({ backend: 'tensorflow' }).then(() => {
  const a = tf.randomNormal([256, 256]);
  const s = tf.sum(tf.matMul(a, a)).dataSync()[0];
  const t = backendInfo().tensorflow;
  console.log('PROBE ' + JSON.stringify({ device: t.device, tensorflow: t.tensorflow, package: t.package, library: t.library, finite: Number.isFinite(s) }));
}).catch((e) => { console.log('PROBE_ERROR ' + e.message); process.exit(1); });
" >"$PROBE_LOG" 2>&1
PROBE_RC=$?
grep -E "Created device|Could not load dynamic library|Cannot dlopen|cudaGetDevice|CUDA_ERROR|no CUDA-capable|Skipping registering GPU|ptxas|JIT" "$PROBE_LOG" | sed 's/^/  tf: /' | head -20
PROBE=$(grep -E '^PROBE' "$PROBE_LOG" | tail -1)
if [ "$PROBE_RC" != 0 ] || [[ "$PROBE" != PROBE\ * ]]; then
  note "TensorFlow did not start (exit $PROBE_RC, $((SECONDS - T0)) s): ${PROBE#PROBE_ERROR }"
  tail -5 "$PROBE_LOG" | sed 's/^/  /'
  exit 1
fi
DEVICE=$(node -e "console.log(JSON.parse(process.argv[1]).device)" "${PROBE#PROBE }")
note "TensorFlow: ${PROBE#PROBE } (first matmul after $((SECONDS - T0)) s)"
if [ "$DEVICE" != GPU ]; then
  note "NO GPU IN USE: TensorFlow runs on the CPU (see the tf: lines above for a CUDA/cuDNN library it could not load; docs/backends.md)."
  if [ "$ALLOW_CPU" != 1 ]; then exit 1; fi
  note "--allow-cpu: running the remaining steps on TensorFlow's CPU (this checks the script, not a GPU)"
elif [ "$HAVE_GPU" = 0 ]; then
  note "TensorFlow reports a GPU although nvidia-smi lists none"
fi

run_step() { # name, command...
  local name=$1; shift
  local budget; budget=$(left)
  if [ "$budget" -le 10 ]; then note "SKIPPED $name: the ${BUDGET} s budget is used up"; FAILED+=("$name (not run: out of time)"); return; fi
  note "$name (at most $budget s) ..."
  local t0=$SECONDS
  if timeout "$budget" "$@"; then PASSED+=("$name ($((SECONDS - t0)) s)"); else
    local rc=$?
    FAILED+=("$name (exit $rc$([ $rc = 124 ] && echo ', timed out'), $((SECONDS - t0)) s)")
  fi
}

# 3. Parity on the tensorflow backend: forward and every gradient against the fixtures, the fused kernels'
# composed fallbacks, and a training step of every stage against the cpu reference. One worker: one GPU context.
run_step "parity tests on tensorflow/$DEVICE" npx jest --maxWorkers=1 -t 'on tensorflow' \
  packages/models/test/parity.test.ts packages/models/test/grads.test.ts packages/models/test/fused.test.ts packages/train/test/tensorflow-steps.test.ts

# 4. One benchmark case (our side on tensorflow; the PyTorch column is bench/python/vs_pytorch.py, on the CPU).
TORCH_PY=""
for py in ${ALTCLIP_PYTHON:-} python3 /usr/bin/python3 /opt/torch2/bin/python; do
  if "$py" -c 'import torch' >/dev/null 2>&1; then TORCH_PY=$py; break; fi
done
if [ ! -f bench/dist/vs-pytorch.js ]; then
  FAILED+=("bench (bench/dist/vs-pytorch.js missing: run npx tsc -b)")
elif [ -z "$TORCH_PY" ]; then
  SKIPPED+=("bench vs-pytorch: no Python with torch found (ALTCLIP_PYTHON=/path/to/python picks one)")
else
  run_step "bench vs-pytorch bert-train on tensorflow/$DEVICE (PyTorch: $TORCH_PY, CPU)" \
    npm run --silent bench -- vs-pytorch --case bert-train --backends tensorflow --python "$TORCH_PY" --rounds 1 --steps 2 --warmup 1
fi

echo
note "device: $DEVICE; passed: ${#PASSED[@]}, failed: ${#FAILED[@]}, not run: ${#SKIPPED[@]}; $((SECONDS - START)) s in all"
for p in "${PASSED[@]}"; do echo "  passed: $p"; done
for k in "${SKIPPED[@]}"; do echo "  not run: $k"; done
for f in "${FAILED[@]}"; do echo "  FAILED: $f"; done
[ ${#FAILED[@]} = 0 ]

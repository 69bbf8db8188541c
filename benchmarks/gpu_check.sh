#!/usr/bin/env bash
# One-shot GPU check of imbalml on a machine with one CUDA GPU: the CUDA tests, then the report's
# recipe at full scale (5000 + 1000 synthetic images at 224 px, VAN-B0, batch 64) timed by
# benchmarks/bench_train.py, eager and then with torch.compile, extrapolated to 100 epochs, and the
# two data pipelines (bench_pipeline.py); GPU_CHECK_ALL=1 adds the micro-benchmarks if time is left.
# Everything ends within GPU_CHECK_BUDGET seconds (default 470, under 8 minutes).
#
# It installs nothing: it needs a python3 with torch (CUDA), torchvision, timm, torchmetrics,
# scikit-learn, scipy, numpy, pillow, pyyaml, matplotlib and pytest + hypothesis, which the device
# tool's nvidia-h200 image has (see /work/.library/device/KINDS.md). imbalml runs from ./src
# (PYTHONPATH); the synthetic dataset is generated there (data/ is git-ignored, so it never
# travels). A package missing there would travel as wheels in .whl/ (device README, "Notes").
#
# Through the device tool, from the repository root of the session's checkout:
#     run(command="bash benchmarks/gpu_check.sh", timeout_s=560)
# Results come back in $OUT: gpu_check.log (everything printed), tests.txt, RESULTS.md (this
# checkout's benchmarks/RESULTS.md with the new "bench_train cuda" sections). Copy RESULTS.md over
# benchmarks/RESULTS.md here (or merge its cuda sections) and commit it.
# Elsewhere: OUT=/tmp/gpu bash benchmarks/gpu_check.sh (OUT defaults to ./gpu-check-out).

set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET:-470}
NOTE=${GPU_CHECK_NOTE:-"benchmarks/gpu_check.sh"}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
left() { echo $((BUDGET - SECONDS)); }
step() { echo; echo "=== $* ($(left) s left)"; }

step "environment"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true
$PY - <<'EOF'
import importlib
import torch
print("torch", torch.__version__, "CUDA", torch.version.cuda, "device", torch.cuda.get_device_name(0))
for name in ("torchvision", "timm", "torchmetrics", "sklearn", "scipy", "numpy", "PIL", "yaml", "matplotlib",
             "pytest", "hypothesis"):
    try:
        print(name, getattr(importlib.import_module(name), "__version__", "?"))
    except ImportError as exc:
        print(name, "MISSING", exc)
EOF

step "CUDA tests (pytest -k cuda)"
timeout 150 $PY -m pytest tests -m "not slow" -k cuda -q -rs -p no:cacheprovider -o addopts="" \
    --continue-on-collection-errors 2>&1 | tee "$OUT/tests.txt"

step "synthetic data (5000 + 1000 + 8 images, 300 px)"
timeout 120 $PY -c "
import sys; sys.path.insert(0, 'benchmarks')
from _fashion import REPO, synthetic_root
synthetic_root(REPO / 'data' / 'bench', num_train=5000, num_val=1000, image_size=300)
"

step "bench_train, eager (3 epochs at full scale)"
timeout $(( $(left) > 170 ? 150 : $(left) - 20 )) $PY benchmarks/bench_train.py --device cuda --epochs 3 \
    --note "$NOTE"

remaining=$(left)
if [ "$remaining" -gt 150 ]; then
    # Compilation (training and evaluation graphs, and the last partial batches) comes first;
    # then as many epochs as the time allows (100 at most), extrapolated to 100 when fewer.
    step "bench_train, torch.compile (epochs until the budget)"
    timeout $((remaining - 70)) $PY benchmarks/bench_train.py --device cuda --compile --epochs 100 \
        --time-budget $((remaining - 230 > 20 ? remaining - 230 : 20)) --note "$NOTE"
fi

if [ "$(left)" -gt 45 ]; then
    step "bench_pipeline on CUDA (PIL DataLoader vs tensor cache)"
    timeout $(( $(left) - 5 )) $PY benchmarks/bench_pipeline.py --device cuda --num-train 5000 --num-val 1000 --note "$NOTE"
fi

if [ "$(left)" -gt 70 ] && [ "${GPU_CHECK_ALL:-0}" = "1" ]; then
    step "micro-benchmarks on CUDA"
    timeout $(( $(left) - 10 )) bash -c "
        $PY benchmarks/bench_metrics.py --device cuda --repeats 5 --note '$NOTE' &&
        $PY benchmarks/bench_losses.py --device cuda --repeat 2 --min-run-time 0.1 --note '$NOTE' &&
        $PY benchmarks/bench_mixup.py --repeats 10 --note '$NOTE' &&
        $PY benchmarks/bench_van.py --device cuda --batch-size 64 --rounds 10 --note '$NOTE'"
fi

cp benchmarks/RESULTS.md "$OUT/RESULTS.md"
step "done in ${SECONDS} s"

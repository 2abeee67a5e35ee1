#!/usr/bin/env bash
# On a machine with a GPU: run the tests that need CUDA, a CUDA training run (one process, then
# one process per GPU with nccl when there are several) and the speed benchmarks; print tables.
#     bash benchmarks/gpu_check.sh            (from the repository root, virtualenv active)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: torch sees no CUDA device; nothing to check here" >&2
    exit 2
fi
gpus=$(python -c 'import torch; print(torch.cuda.device_count())')
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python -c 'import torch, pyro; print("torch", torch.__version__, "cuda", torch.version.cuda, "pyro", pyro.__version__)'

echo "== the tests marked cuda (tests/test_device.py and others; skips listed with their reasons)"
python -m pytest -q -rs -m cuda tests

run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
echo "== one GPU: pyro-lvm train on digits"
python -m pyro_lvm train vae --data digits --epochs 5 --device cuda --quiet --out "$run/one"
if [ "$gpus" -gt 1 ]; then
    echo "== $gpus GPUs: torchrun, nccl"
    torchrun --standalone --nproc_per_node="$gpus" -m pyro_lvm train vae --data digits \
        --epochs 5 --batch-size $((64 * gpus)) --device cuda --quiet --out "$run/many"
fi

echo "== speed: one training step against pure PyTorch, on the GPU"
python benchmarks/svi_step.py --device cuda
echo "== speed: flow layers, on the GPU"
python benchmarks/flows.py --device cuda
echo "== scaling (quick)"
python benchmarks/scaling.py --quick --device cuda

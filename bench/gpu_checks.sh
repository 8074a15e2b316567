#!/usr/bin/env bash
# Everything a session with a CUDA GPU should run, in one command, with the logs kept:
#   1. the GPU tests (tests/gpu: CUDA-graph replay against eager steps, bf16 against float32),
#   2. the CUDA half of the benchmark (fit variants against the pytorch/examples loop),
#   3. the whole series in full mode, timed notebook by notebook.
# Needs torch with CUDA, pytest, nbclient, nbformat, ipykernel and ipywidgets (nbval is not
# needed). Put Fashion-MNIST in data/FashionMNIST/raw (or install Debian's dataset-fashion-mnist)
# for the 60,000-image rows. Logs go to $LOG_DIR (default bench/results/gpu-<date>); copy the
# figures into the README's "Measured figures" afterwards.
#
#   bash bench/gpu_checks.sh
set -o pipefail
cd "$(dirname "$0")/.."
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU visible to torch'" || exit 2
LOG_DIR=${LOG_DIR:-bench/results/gpu-$(date +%F)}
mkdir -p "$LOG_DIR"
export PYTHONUNBUFFERED=1
status=0
python3 -m pytest -o addopts="" -p no:cacheprovider -m gpu tests/gpu -q 2>&1 | tee "$LOG_DIR/gpu_tests.txt" || status=1
python3 bench/bench_fit.py --device cuda --epochs 3 2>&1 | tee "$LOG_DIR/bench_cuda.txt" || status=1
VAE_PROGRESS=0 python3 bench/time_notebooks.py 2>&1 | grep -v "running over TCP" | tee "$LOG_DIR/notebooks_full.txt" || status=1
exit $status

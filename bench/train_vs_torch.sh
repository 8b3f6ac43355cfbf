#!/usr/bin/env bash
# One epoch of LeNet-5 on MNIST at batch 128 (SGD, mean cross-entropy):
# Poda's trainer vs PyTorch (Debian's python3-torch) on the same number of
# threads, in the same run. Prints both and the ratio Poda/PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
poda=$(GOMAXPROCS=$THREADS go test -run '^$' -bench 'EpochLeNet5$' -benchtime 1x ./train | awk '/^BenchmarkEpochLeNet5/ {print $3/1e9}')
torch=$(/usr/bin/python3 bench/torch_bench.py --threads "$THREADS" --train-epoch | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["epoch_s"])')
/usr/bin/python3 -c "p,t=$poda,$torch; print('LeNet-5 epoch, batch 128, %d threads: Poda %.1f s, PyTorch %.1f s, Poda/PyTorch %.2f' % ($THREADS, p, t, p/t))"

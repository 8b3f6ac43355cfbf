#!/usr/bin/env bash
# Runtime latency of Poda vs PyTorch (Debian's python3-torch), 2 threads
# each, in the same run, on the fixtures. Prints a Markdown table with the
# ratio Poda/PyTorch (below 1: Poda is faster).
#
#   bench/compare.sh                      # default model:batch list
#   bench/compare.sh lenet5:1 lenet5:256  # your own
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=${THREADS:-2}
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(lenet300:1 lenet300:64 lenet5:1 lenet5:256 resnet_bnfold:1 resnet_bnfold:64 concat_block:1 mbv2_block:1 transformer:1 mobilenet_v2:1 resnet18:1)
go build -o /tmp/poda-bench ./cmd/poda
echo "| model | batch | Poda median ms | PyTorch median ms | Poda / PyTorch |"
echo "|---|---|---|---|---|"
for r in "${runs[@]}"; do
  name=${r%%:*}; batch=${r##*:}
  [ -f "testdata/models/$name.onnx" ] || { echo "| $name | $batch | (no fixture) | | |"; continue; }
  poda=$(GOMAXPROCS=$THREADS /tmp/poda-bench bench "testdata/models/$name.onnx" --batch "$batch" --threads "$THREADS" --json |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["latency_ms_median"])')
  torch=$(/usr/bin/python3 bench/torch_bench.py --threads "$THREADS" "$name:$batch" |
    /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["median_ms"])')
  /usr/bin/python3 -c "p,t=$poda,$torch; print('| $name | $batch | %.3f | %.3f | %.2f |' % (p, t, p/t))"
done

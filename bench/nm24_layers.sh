#!/usr/bin/env bash
# Per-layer speedup of 2:4 sparsity on every Gemm of the fixtures: each
# model is pruned 2:4 (Convs left dense) with `poda prune --nm 2:4`, then
# `poda bench --tune --json` times every Gemm on dense GEMM and in each
# sparse format its weight fits, at batch 1 and 64, REPEAT times (default
# 3). Prints a Markdown table of the fastest format and the range of its
# speedup over dense (the layer's own time, as the tuner measures it: one
# run of the op on the layer's weights, without Session.Run's fixed cost).
#
#   bench/nm24_layers.sh                # every fixture with a Gemm
#   REPEAT=5 bench/nm24_layers.sh lenet300 lenet5
set -euo pipefail
cd "$(dirname "$0")/.."
REPEAT=${REPEAT:-3}
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(lenet300 lenet5 concat_block mbv2_block resnet_bnfold resnet18 mobilenet_v2)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/poda" ./cmd/poda
echo "| model | Gemm (out×in) | batch | formats chosen | speedup over dense |"
echo "|---|---|---|---|---|"
for m in "${models[@]}"; do
  "$tmp/poda" prune "testdata/models/$m.onnx" -o "$tmp/$m.onnx" --nm 2:4 --exclude Conv >/dev/null
  shapes=$("$tmp/poda" inspect "testdata/models/$m.onnx" | awk '$2 == "Gemm" {print $1 "=" $3}' | tr '\n' ' ')
  for b in 1 64; do
    for i in $(seq "$REPEAT"); do
      rm -f "$tmp/$m.onnx.poda-tune.json"
      "$tmp/poda" bench "$tmp/$m.onnx" --batch "$b" --tune --json --runs 10
    done | /usr/bin/python3 -c '
import json, sys
model, batch, shapes = sys.argv[1], sys.argv[2], dict(s.split("=") for s in sys.argv[3].split())
layers, text, dec, i = {}, sys.stdin.read(), json.JSONDecoder(), 0
while text[i:].strip():
    obj, i = dec.raw_decode(text, i + len(text[i:]) - len(text[i:].lstrip()))
    for l in obj["layers"]:
        if l["op"] == "Gemm":
            f, s = layers.setdefault(l["node"], (set(), []))
            f.add(l["format"]); s.append(l["speedup"])
for node, (f, s) in layers.items():
    print("| %s | %s (%s) | %s | %s | %.2f–%.2f× |" % (model, node, shapes.get(node, "?"), batch, ", ".join(sorted(f)), min(s), max(s)))
' "$m" "$b" "$shapes"
  done
done

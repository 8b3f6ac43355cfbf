#!/usr/bin/env bash
# Accuracy after pruning and recovery: global magnitude sparsity 50–98% on
# both LeNets, with and without distillation, at a 2-epoch fine-tuning budget
# (gradual cubic schedule, SGD momentum 0.9, cosine learning rate), plus 2:4.
# Prints a Markdown table. Takes about 20–40 minutes on 2 cores.
#
#   bench/sweep.sh                 # everything
#   MODELS=lenet300 SPARSITIES="0.95" bench/sweep.sh
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${MODELS:-"lenet300 lenet5"}
SPARSITIES=${SPARSITIES:-"0.5 0.8 0.9 0.95 0.98"}
EPOCHS=${EPOCHS:-2}
go build -o /tmp/poda-sweep ./cmd/poda
out=$(mktemp -d)
acc() { /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f %.2f" % (100*d["accuracy_before"], 100*d["accuracy_after"]))'; }
echo "| model | pruning | dense acc % | plain fine-tune % | with distillation % |"
echo "|---|---|---|---|---|"
for m in $MODELS; do
  for spec in $SPARSITIES nm2:4; do
    if [ "$spec" = nm2:4 ]; then args=(--nm 2:4); label="2:4"; else args=(--sparsity "$spec" --scope global); label="global $(/usr/bin/python3 -c "print(round($spec*100))")%"; fi
    read -r dense plain < <(/tmp/poda-sweep prune "testdata/models/$m.onnx" -o "$out/p.onnx" "${args[@]}" --data mnist --epochs "$EPOCHS" --latency=false --json 2>/dev/null | acc)
    read -r _ dist < <(/tmp/poda-sweep prune "testdata/models/$m.onnx" -o "$out/d.onnx" "${args[@]}" --data mnist --epochs "$EPOCHS" --distill --latency=false --json 2>/dev/null | acc)
    echo "| $m | $label | $dense | $plain | $dist |"
  done
done
rm -rf "$out"

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/prune"
	"github.com/podaml/poda/train"
)

// finetuneResult is what `poda finetune --json` prints.
type finetuneResult struct {
	Model          string  `json:"model"`
	Output         string  `json:"output"`
	AccuracyBefore float64 `json:"accuracy_before"`
	AccuracyAfter  float64 `json:"accuracy_after"`
	LossBefore     float64 `json:"loss_before"`
	LossAfter      float64 `json:"loss_after"`
	Steps          int     `json:"steps"`
	Seconds        float64 `json:"seconds"`
}

func init() {
	register(&command{
		name:  "finetune",
		usage: "MODEL -o OUT --data mnist --epochs E [--batch N] [--lr X] [--optimizer sgd|adam|adamw] [--json]",
		short: "train a model's weights on a data set, keeping pruned weights at zero",
		long: `Finetune trains every floating-point weight of MODEL on the training split
(BatchNormalization statistics as running statistics), evaluates on the test
split before and after, and writes the trained model to OUT. Weights that are
exactly zero in prunable layers (Conv, Gemm, MatMul) stay zero: a pruned model
keeps its sparsity, as a mask travels with its zeros. With --checkpoint DIR
the run writes atomic checkpoints, and --resume continues bit for bit.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			var d dataFlags
			d.register(fs, "test")
			var tf trainFlags
			tf.register(fs, 1, 0.01)
			out := fs.String("o", "", "`OUT` path of the trained model (required)")
			dense := fs.Bool("no-masks", false, "let zero weights train (drops the sparsity)")
			asJSON := fs.Bool("json", false, "print one JSON object")
			return func(ctx context.Context, args []string, w io.Writer) error {
				if len(args) != 1 {
					return usagef("finetune takes one model, got %d arguments", len(args))
				}
				if *out == "" {
					return usagef("-o OUT is required")
				}
				m, err := graph.Load(args[0], onnx.Limits{})
				if err != nil {
					return err
				}
				trainSet, err := d.open("train")
				if err != nil {
					return err
				}
				testSet, err := d.open("test")
				if err != nil {
					return err
				}
				cfg, _, err := tf.config(trainSet.Len(), os.Stderr, "finetune")
				if err != nil {
					return err
				}
				if !*dense {
					cfg.Masks = zeroMasks(m)
				}
				before, err := train.Evaluate(ctx, m, testSet, 256)
				if err != nil {
					return err
				}
				tr, err := train.Fit(ctx, m, trainSet, cfg)
				if err != nil {
					return err
				}
				after, err := train.Evaluate(ctx, m, testSet, 256)
				if err != nil {
					return err
				}
				if err := m.Save(*out, onnx.WriteOptions{}); err != nil {
					return err
				}
				res := finetuneResult{Model: args[0], Output: *out, AccuracyBefore: before.Accuracy, AccuracyAfter: after.Accuracy,
					LossBefore: before.Loss, LossAfter: after.Loss, Steps: tr.Steps, Seconds: tr.Wall.Seconds()}
				if *asJSON {
					return writeJSON(w, res)
				}
				fmt.Fprintf(w, "accuracy %.2f%% -> %.2f%%, loss %.4f -> %.4f, %d steps in %.1fs; wrote %s\n",
					100*res.AccuracyBefore, 100*res.AccuracyAfter, res.LossBefore, res.LossAfter, res.Steps, res.Seconds, *out)
				return nil
			}
		},
	})
}

// zeroMasks locks the exact zeros of every prunable weight: the masks of
// an earlier pruning run travel with the model as its zeros.
func zeroMasks(m *graph.Model) map[string][]bool {
	masks := map[string][]bool{}
	for _, t := range prune.Targets(m) {
		w := m.Graph.Initializer(t.Tensor).F32
		if z := train.MaskFromZeros(w); hasFalse(z) {
			masks[t.Tensor] = z
		}
	}
	return masks
}

func hasFalse(b []bool) bool {
	for _, v := range b {
		if !v {
			return true
		}
	}
	return false
}

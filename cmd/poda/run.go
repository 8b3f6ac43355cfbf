package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/runtime"
	"github.com/podaml/poda/tensor"
)

func init() {
	register(&command{
		name:  "run",
		usage: "MODEL --input NAME=FILE.npy ... -o DIR",
		short: "run a model on NumPy inputs in Poda's runtime",
		long: `Run executes MODEL in Poda's pure-Go runtime on inputs read from NumPy .npy
files and writes each output to DIR/<output name>.npy. Float64 inputs are
converted to float32, int32 to int64, where the model expects those types.
Pruned layers run in the formats MODEL.poda-tune.json holds for the batch
size (dim 0 of the first input), if "poda bench --tune" wrote one for these
model bytes (see bench).`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			var inputs stringList
			fs.Var(&inputs, "input", "`NAME=FILE.npy` an input of the model (repeatable)")
			out := fs.String("o", "", "`DIR` where outputs are written (required)")
			threads := fs.Int("threads", 0, "worker `N` (0: all cores)")
			return func(ctx context.Context, args []string, w io.Writer) error {
				if len(args) != 1 {
					return usagef("run takes one model, got %d arguments", len(args))
				}
				if *out == "" {
					return usagef("-o DIR is required")
				}
				m, err := graph.Load(args[0], onnx.Limits{})
				if err != nil {
					return err
				}
				feeds, err := readInputs(m, inputs)
				if err != nil {
					return err
				}
				// Formats measured by `poda bench --tune` at this batch size.
				formats, err := tunedFormats(args[0], m, feeds)
				if err != nil {
					return err
				}
				s, err := runtime.New(m, runtime.Options{Threads: *threads, Formats: formats})
				if err != nil {
					return err
				}
				res, err := s.Run(ctx, feeds)
				if err != nil {
					return err
				}
				if err := os.MkdirAll(*out, 0o755); err != nil {
					return err
				}
				names := make([]string, 0, len(res))
				for n := range res {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					p := filepath.Join(*out, safeFileName(n)+".npy")
					if err := npy.WriteFile(p, res[n]); err != nil {
						return err
					}
					fmt.Fprintf(w, "%s %v -> %s\n", n, res[n].Shape, p)
				}
				return nil
			}
		},
	})
}

// readInputs reads NAME=FILE.npy pairs and converts their element types to
// those the model declares.
func readInputs(m *graph.Model, specs []string) (map[string]*tensor.Tensor, error) {
	want := map[string]*graph.Value{}
	for _, v := range m.Graph.RealInputs() {
		want[v.Name] = v
	}
	feeds := map[string]*tensor.Tensor{}
	for _, s := range specs {
		name, file, ok := strings.Cut(s, "=")
		if !ok {
			return nil, usagef("--input %q: want NAME=FILE.npy", s)
		}
		v := want[name]
		if v == nil {
			return nil, fmt.Errorf("--input %q: the model has no input %q (inputs: %s)", s, name, inputNames(m))
		}
		t, err := npy.ReadFile(file)
		if err != nil {
			return nil, err
		}
		switch v.DType {
		case tensor.Float:
			t, err = npy.AsFloat32(t)
		case tensor.Int64:
			t, err = npy.AsInt64(t)
		}
		if err != nil {
			return nil, fmt.Errorf("input %q from %s: %w", name, file, err)
		}
		feeds[name] = t
	}
	for name := range want {
		if feeds[name] == nil {
			return nil, usagef("missing --input for %q (inputs: %s)", name, inputNames(m))
		}
	}
	return feeds, nil
}

func inputNames(m *graph.Model) string {
	var names []string
	for _, v := range m.Graph.RealInputs() {
		names = append(names, v.Name)
	}
	return strings.Join(names, ", ")
}

// safeFileName maps a value name to a file name inside the output folder.
func safeFileName(name string) string {
	r := strings.NewReplacer("/", "_", `\`, "_", ":", "_", "..", "_")
	s := r.Replace(name)
	if s == "" || s == "." {
		s = "output"
	}
	return s
}

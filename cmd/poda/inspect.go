package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/inspect"
	"github.com/podaml/poda/onnx"
)

func init() {
	register(&command{
		name:  "inspect",
		usage: "MODEL [--json] [--input-shape NAME=1x3x224x224]",
		short: "show parameters, MACs, bytes and sparsity per layer",
		long: `Inspect prints, for every Conv, ConvTranspose, Gemm, MatMul with a weight
initializer and BatchNormalization, its weight shape, parameters, MACs per
sample, bytes and the fraction of weights that are exactly zero, then the
model's totals. Symbolic dimensions (the batch) are taken as 1 unless
--input-shape gives them.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			asJSON := fs.Bool("json", false, "print one JSON object")
			var shapes stringList
			fs.Var(&shapes, "input-shape", "`NAME=DIMS` shape of an input, e.g. input=1x3x224x224 (repeatable)")
			return func(ctx context.Context, args []string, w io.Writer) error {
				if len(args) != 1 {
					return usagef("inspect takes one model, got %d arguments", len(args))
				}
				in, err := parseShapes(shapes)
				if err != nil {
					return err
				}
				m, err := graph.Load(args[0], onnx.Limits{})
				if err != nil {
					return err
				}
				r, err := inspect.Model(m, inspect.Options{InputShapes: in})
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSON(w, r)
				}
				printInspect(w, args[0], r)
				return nil
			}
		},
	})
}

func parseShapes(specs []string) (map[string][]int, error) {
	out := map[string][]int{}
	for _, s := range specs {
		name, dims, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, usagef("--input-shape %q: want NAME=DIMS such as input=1x3x224x224", s)
		}
		var shape []int
		for _, d := range strings.Split(dims, "x") {
			v, err := strconv.Atoi(d)
			if err != nil || v <= 0 {
				return nil, usagef("--input-shape %q: dimension %q is not a positive integer", s, d)
			}
			shape = append(shape, v)
		}
		out[name] = shape
	}
	return out, nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printInspect(w io.Writer, path string, r *inspect.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "layer\top\tweight shape\tparams\tMACs\tbytes\tzeros\t\n")
	for _, l := range r.Layers {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.1f%%\t\n", l.Name, l.Op, inspect.FormatDims(l.WeightShape), l.Params, l.MACs, l.Bytes, 100*l.ZeroFraction)
	}
	tw.Flush()
	fmt.Fprintf(w, "\n%s: %s params, %s MACs per sample, %s of weights, %.1f%% zeros, file %s\n",
		path, human(r.Params), human(r.MACs), humanBytes(r.Bytes), 100*r.ZeroFraction, humanBytes(r.FileSize))
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func human(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fG", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return strconv.FormatInt(n, 10)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

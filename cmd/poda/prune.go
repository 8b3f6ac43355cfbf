package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/inspect"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/prune"
)

// pruneFlags are the options of `poda prune`.
type pruneFlags struct {
	out       string
	sparsity  float64
	scope     string
	method    string
	seed      uint64
	nm        string
	exclude   stringList
	asJSON    bool
	externalT int64
	dense     bool
}

func init() {
	register(&command{
		name:  "prune",
		usage: "MODEL -o OUT [--sparsity S --scope layer|global --method magnitude|random] [--nm N:M] [--exclude PATTERN] [--json]",
		short: "prune a model and write the smaller model",
		long: `Prune removes weights from MODEL and writes the result to OUT.

Unstructured: --sparsity S zeroes exactly round(S·n) weights, by magnitude or
at random, per layer (--scope layer) or under one global threshold (--scope
global). Semi-structured: --nm 2:4 keeps the 2 largest of every 4 consecutive
weights along each layer's input dimension.

--exclude takes glob patterns matched against weight names, node names and op
types (repeatable). The before/after table lists params, MACs, bytes and
sparsity per layer.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			f := &pruneFlags{}
			fs.StringVar(&f.out, "o", "", "`OUT` path of the pruned model (required)")
			fs.Float64Var(&f.sparsity, "sparsity", 0, "fraction `S` of weights to zero (unstructured)")
			fs.StringVar(&f.scope, "scope", "layer", "`layer|global` sparsity per layer or one global threshold")
			fs.StringVar(&f.method, "method", "magnitude", "`magnitude|random` how weights are ranked")
			fs.Uint64Var(&f.seed, "seed", 1, "random `SEED` for --method random")
			fs.StringVar(&f.nm, "nm", "", "`N:M` semi-structured pattern such as 2:4")
			fs.Var(&f.exclude, "exclude", "`PATTERN` glob of weights, nodes or op types to leave alone (repeatable)")
			fs.BoolVar(&f.asJSON, "json", false, "print a JSON report")
			fs.BoolVar(&f.dense, "dense-storage", false, "store pruned weights densely (default: as sparse_initializer when that is smaller)")
			fs.Int64Var(&f.externalT, "external-threshold", 0, "move initializers of at least `BYTES` to OUT.data (0: keep inline)")
			return func(ctx context.Context, args []string, w io.Writer) error {
				return runPrune(ctx, f, args, w)
			}
		},
	})
}

// pruneResult is what `poda prune --json` prints.
type pruneResult struct {
	Model   string              `json:"model"`
	Output  string              `json:"output"`
	Pruning *prune.Report       `json:"pruning,omitempty"`
	Compare *inspect.Comparison `json:"compare"`
}

func runPrune(ctx context.Context, f *pruneFlags, args []string, w io.Writer) error {
	if len(args) != 1 {
		return usagef("prune takes one model, got %d arguments", len(args))
	}
	if f.out == "" {
		return usagef("-o OUT is required")
	}
	m, err := graph.Load(args[0], onnx.Limits{})
	if err != nil {
		return err
	}
	before, err := inspect.Model(m, inspect.Options{})
	if err != nil {
		return err
	}
	res := &pruneResult{Model: args[0], Output: f.out}
	switch {
	case f.nm != "":
		n, mm, err := parseNM(f.nm)
		if err != nil {
			return err
		}
		res.Pruning, err = prune.NM(m, prune.NMOptions{N: n, M: mm, Exclude: f.exclude})
		if err != nil {
			return err
		}
	case f.sparsity > 0:
		opt := prune.UnstructuredOptions{Sparsity: f.sparsity, Seed: f.seed, Exclude: f.exclude}
		if opt.Scope, err = prune.ParseScope(f.scope); err != nil {
			return usagef("--%v", err)
		}
		if opt.Method, err = prune.ParseMethod(f.method); err != nil {
			return usagef("--%v", err)
		}
		res.Pruning, err = prune.Unstructured(m, opt)
		if err != nil {
			return err
		}
	default:
		return usagef("say what to prune: --sparsity S or --nm N:M")
	}
	if !f.dense {
		pruned := map[string]bool{}
		for _, t := range res.Pruning.Tensors {
			pruned[t.Tensor] = t.Skipped == ""
		}
		m.StoreSparse(func(t *graph.Tensor) bool { return pruned[t.Name] })
	}
	if err := m.Save(f.out, onnx.WriteOptions{ExternalThreshold: f.externalT}); err != nil {
		return err
	}
	saved, err := graph.Load(f.out, onnx.Limits{})
	if err != nil {
		return fmt.Errorf("reading back %s: %w", f.out, err)
	}
	after, err := inspect.Model(saved, inspect.Options{})
	if err != nil {
		return err
	}
	res.Compare = inspect.Compare(before, after)
	if f.asJSON {
		return writeJSON(w, res)
	}
	if err := res.Compare.WriteTable(w); err != nil {
		return err
	}
	for _, t := range res.Pruning.Tensors {
		if t.Skipped != "" {
			fmt.Fprintf(w, "skipped %s: %s\n", t.Tensor, t.Skipped)
		}
	}
	fmt.Fprintf(w, "wrote %s\n", f.out)
	return nil
}

func parseNM(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, ":")
	n, err1 := strconv.Atoi(a)
	m, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || n >= m {
		return 0, 0, usagef("--nm %q: want N:M with 1 <= N < M, such as 2:4", s)
	}
	return n, m, nil
}

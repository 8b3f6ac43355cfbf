package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/inspect"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/prune"
	"github.com/podaml/poda/recovery"
	"github.com/podaml/poda/tensor"
)

// pruneFlags are the options of `poda prune`.
type pruneFlags struct {
	out string
	// unstructured
	sparsity float64
	scope    string
	method   string
	// N:M
	nm string
	// structured
	structured string
	ratio      float64
	criterion  string
	roundTo    int
	globalRank bool
	// depth
	removeBlocks int
	blocks       stringList
	// all
	recipe    string
	exclude   stringList
	asJSON    bool
	externalT int64
	dense     bool
	// recovery
	data        dataFlags
	train       trainFlags
	schedule    string
	rounds      int
	ramp        float64
	distill     bool
	teacher     string
	alpha       float64
	temperature float64
	rewind      bool
	latency     bool
}

func init() {
	register(&command{
		name: "prune",
		usage: `MODEL -o OUT (--sparsity S [--scope layer|global] [--method magnitude|random]
       | --nm N:M | --structured channels --ratio R [--criterion l1|l2|bn|random] [--round-to K]
       | --remove-blocks K | --recipe FILE.yaml) [--exclude PATTERN]
       [--data mnist --epochs E [--schedule gradual|oneshot|iterative] [--distill]] [--json]`,
		short: "prune a model, optionally recover its accuracy, and write the smaller model",
		long: `Prune removes weights, channels or blocks from MODEL and writes the result to OUT.

Unstructured: --sparsity S zeroes exactly round(S·n) weights, by magnitude or
at random, per layer (--scope layer) or under one global threshold (--scope
global). Semi-structured: --nm 2:4 keeps the 2 largest of every 4 consecutive
weights along each layer's input dimension. Structured: --structured channels
--ratio R removes that fraction of conv filters, neurons and attention heads,
with every coupled tensor (dependency graph), so tensors really shrink.
Depth: --remove-blocks K bypasses the K residual blocks whose removal changes
the output least on calibration data (--data). --recipe runs the stages of a
YAML recipe.

With --data and --epochs, the model is fine-tuned within that budget while it
is pruned (a gradual cubic schedule by default), evaluated before and after,
and the table shows accuracy beside params, MACs, bytes, file size and
latency. --distill uses the model before pruning (or --teacher) as teacher.
Pruned weights are stored sparse (ONNX Constant nodes with a sparse_value:
values plus indices) when that makes the file smaller (--dense-storage opts
out).`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			f := &pruneFlags{}
			fs.StringVar(&f.out, "o", "", "`OUT` path of the pruned model (required)")
			fs.Float64Var(&f.sparsity, "sparsity", 0, "fraction `S` of weights to zero (unstructured)")
			fs.StringVar(&f.scope, "scope", "layer", "`layer|global` sparsity per layer or one global threshold")
			fs.StringVar(&f.method, "method", "magnitude", "`magnitude|random` how weights are ranked")
			fs.StringVar(&f.nm, "nm", "", "`N:M` semi-structured pattern such as 2:4")
			fs.StringVar(&f.structured, "structured", "", "`channels`: remove whole channels, neurons and heads")
			fs.Float64Var(&f.ratio, "ratio", 0.5, "fraction `R` of channels to remove (structured)")
			fs.StringVar(&f.criterion, "criterion", "l1", "`l1|l2|bn|random` channel importance (structured)")
			fs.IntVar(&f.roundTo, "round-to", 0, "keep surviving channel counts at multiples of `K`")
			fs.BoolVar(&f.globalRank, "global-ranking", false, "rank channels across groups instead of a ratio per group")
			fs.IntVar(&f.removeBlocks, "remove-blocks", 0, "remove the `K` least important residual or transformer blocks")
			fs.Var(&f.blocks, "block", "remove exactly the block `NAME` (repeatable)")
			fs.StringVar(&f.recipe, "recipe", "", "YAML `FILE` with pruning stages")
			fs.Var(&f.exclude, "exclude", "`PATTERN` glob of weights, nodes, op types or groups to leave alone (repeatable)")
			fs.BoolVar(&f.asJSON, "json", false, "print a JSON report")
			fs.BoolVar(&f.dense, "dense-storage", false, "store pruned weights densely")
			fs.Int64Var(&f.externalT, "external-threshold", 0, "move initializers of at least `BYTES` to OUT.data (0: keep inline)")
			f.data.register(fs, "test")
			f.train.register(fs, 0, 0.05)
			fs.StringVar(&f.schedule, "schedule", "gradual", "`gradual|oneshot|iterative` when pruning happens during fine-tuning")
			fs.Float64Var(&f.ramp, "ramp", 0.7, "gradual: fraction `F` of the budget over which sparsity rises")
			fs.IntVar(&f.rounds, "rounds", 3, "`K` prune/fine-tune rounds for --schedule iterative")
			fs.BoolVar(&f.distill, "distill", false, "distil from the model before pruning")
			fs.StringVar(&f.teacher, "teacher", "", "distil from the teacher `MODEL` (implies --distill)")
			fs.Float64Var(&f.alpha, "alpha", 0.5, "distillation weight `α` of the label loss")
			fs.Float64Var(&f.temperature, "temperature", 4, "distillation `T`")
			fs.BoolVar(&f.rewind, "rewind", false, "rewind surviving weights to their pre-fine-tuning values each round (lottery ticket)")
			fs.BoolVar(&f.latency, "latency", true, "measure batch-1 latency before and after")
			return func(ctx context.Context, args []string, w io.Writer) error {
				return runPrune(ctx, f, args, w)
			}
		},
	})
}

// pruneResult is what `poda prune --json` prints.
type pruneResult struct {
	Model          string              `json:"model"`
	Output         string              `json:"output"`
	Stages         []stageResult       `json:"stages"`
	AccuracyBefore *float64            `json:"accuracy_before,omitempty"`
	AccuracyAfter  *float64            `json:"accuracy_after,omitempty"`
	LatencyBefore  *float64            `json:"latency_ms_before,omitempty"`
	LatencyAfter   *float64            `json:"latency_ms_after,omitempty"`
	Compare        *inspect.Comparison `json:"compare"`
}

type stageResult struct {
	Method  string           `json:"method"`
	Steps   int              `json:"steps"`
	Events  []recovery.Event `json:"events,omitempty"`
	Reports []any            `json:"reports"`
}

// stage is one pruner with its fine-tuning budget in epochs.
type stage struct {
	name   string
	pruner recovery.Pruner
	epochs float64
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
	return pruneModel(ctx, f, m, args[0], w)
}

// pruneModel prunes (and recovers) m per the flags, writes f.out and
// prints the before/after table.
func pruneModel(ctx context.Context, f *pruneFlags, m *graph.Model, name string, w io.Writer) error {
	var trainSet, testSet data.Dataset
	var err error
	if f.data.spec != "" {
		if trainSet, err = f.data.open("train"); err != nil {
			return err
		}
		if testSet, err = f.data.open("test"); err != nil {
			return err
		}
	} else if f.train.epochs > 0 {
		return usagef("--epochs needs --data to fine-tune on")
	}
	stages, err := f.stages(ctx, m, trainSet)
	if err != nil {
		return err
	}
	dense := m.Clone()
	before, err := inspect.Model(m, inspect.Options{})
	if err != nil {
		return err
	}
	if before.FileSize == 0 {
		// Not read from a file (the embedded demo model): its encoding.
		b, err := m.Encode()
		if err != nil {
			return err
		}
		before.FileSize = int64(len(b))
	}
	res := &pruneResult{Model: name, Output: f.out}
	sched, err := recovery.ParseSchedule(f.schedule)
	if err != nil {
		return usagef("--%v", err)
	}
	var teacher *graph.Model
	if f.teacher != "" {
		if teacher, err = graph.Load(f.teacher, onnx.Limits{}); err != nil {
			return err
		}
	}
	for i, st := range stages {
		opt := recovery.Options{Pruner: st.pruner, Schedule: sched, Rounds: f.rounds, Ramp: f.ramp, Rewind: f.rewind,
			Distill: f.distill || teacher != nil, Teacher: teacher, Alpha: f.alpha, Temperature: f.temperature}
		if opt.Distill && opt.Teacher == nil {
			opt.Teacher = dense
		}
		if trainSet != nil && st.epochs > 0 {
			tf := f.train
			tf.epochs = st.epochs
			if opt.Train, opt.NewOptimizer, err = tf.config(trainSet.Len(), os.Stderr, fmt.Sprintf("stage %d/%d %s", i+1, len(stages), st.name)); err != nil {
				return err
			}
		}
		if i == 0 && testSet != nil {
			opt.Test = testSet // evaluated before the first stage
		}
		if i == len(stages)-1 && testSet != nil {
			opt.Test = testSet
		}
		r, err := recovery.Run(ctx, m, trainSet, opt)
		if err != nil {
			return fmt.Errorf("stage %d (%s): %w", i+1, st.name, err)
		}
		if i == 0 && !math.IsNaN(r.AccuracyBefore) {
			res.AccuracyBefore = &r.AccuracyBefore
		}
		if i == len(stages)-1 && !math.IsNaN(r.AccuracyAfter) {
			res.AccuracyAfter = &r.AccuracyAfter
		}
		res.Stages = append(res.Stages, stageResult{Method: st.name, Steps: r.Steps, Events: r.Events, Reports: nonNil(r.Pruning)})
	}
	if !f.dense {
		m.StoreSparse(nil)
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
	if res.AccuracyBefore != nil && res.AccuracyAfter != nil {
		res.Compare.Extra = append(res.Compare.Extra, inspect.Metric{Name: "accuracy", Before: 100 * *res.AccuracyBefore, After: 100 * *res.AccuracyAfter, Unit: "%"})
	}
	if f.latency {
		lb, err1 := benchModel(ctx, dense, 1, 0, 0)
		la, err2 := benchModel(ctx, saved, 1, 0, 0)
		if err := errors.Join(err1, err2); err != nil {
			return fmt.Errorf("measuring latency: %w", err)
		}
		res.LatencyBefore, res.LatencyAfter = &lb.LatencyMsMed, &la.LatencyMsMed
		res.Compare.Extra = append(res.Compare.Extra, inspect.Metric{Name: "latency b=1", Before: lb.LatencyMsMed, After: la.LatencyMsMed, Unit: " ms"})
	}
	if f.asJSON {
		return writeJSON(w, res)
	}
	if err := res.Compare.WriteTable(w); err != nil {
		return err
	}
	printDeclined(w, res.Stages)
	fmt.Fprintf(w, "wrote %s\n", f.out)
	return nil
}

func nonNil(reports []any) []any {
	out := []any{}
	for _, r := range reports {
		if r != nil {
			out = append(out, r)
		}
	}
	return out
}

// printDeclined lists what pruning left alone and why.
func printDeclined(w io.Writer, stages []stageResult) {
	for _, st := range stages {
		for _, r := range st.Reports {
			switch r := r.(type) {
			case *prune.Report:
				for _, t := range r.Tensors {
					if t.Skipped != "" {
						fmt.Fprintf(w, "skipped %s: %s\n", t.Tensor, t.Skipped)
					}
				}
			case *prune.StructuredReport:
				for _, g := range r.Declined() {
					fmt.Fprintf(w, "declined group %s: %s\n", g.Name, g.Declined)
				}
			}
		}
	}
}

// stages turns the flags (or the recipe) into pruning stages.
func (f *pruneFlags) stages(ctx context.Context, m *graph.Model, trainSet data.Dataset) ([]stage, error) {
	if f.recipe != "" {
		r, err := prune.LoadRecipe(f.recipe)
		if err != nil {
			return nil, err
		}
		var out []stage
		for _, s := range r.Stages {
			st, err := f.recipeStage(ctx, m, trainSet, s)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
		return out, nil
	}
	var out []stage
	set := 0
	if f.sparsity > 0 {
		set++
		opt := prune.UnstructuredOptions{Sparsity: f.sparsity, Seed: f.train.seed, Exclude: f.exclude}
		var err error
		if opt.Scope, err = prune.ParseScope(f.scope); err != nil {
			return nil, usagef("--%v", err)
		}
		if opt.Method, err = prune.ParseMethod(f.method); err != nil {
			return nil, usagef("--%v", err)
		}
		out = append(out, stage{name: "unstructured", pruner: recovery.Unstructured{Options: opt}, epochs: f.train.epochs})
	}
	if f.nm != "" {
		set++
		n, mm, err := parseNM(f.nm)
		if err != nil {
			return nil, err
		}
		out = append(out, stage{name: "nm", pruner: recovery.NM{Options: prune.NMOptions{N: n, M: mm, Exclude: f.exclude}}, epochs: f.train.epochs})
	}
	if f.structured != "" {
		set++
		if f.structured != "channels" {
			return nil, usagef("--structured %q: want channels", f.structured)
		}
		crit, err := parseCriterion(f.criterion, f.train.seed)
		if err != nil {
			return nil, err
		}
		opt := prune.StructuredOptions{Ratio: f.ratio, Global: f.globalRank, Criterion: crit, RoundTo: f.roundTo, Seed: f.train.seed, Exclude: f.exclude}
		out = append(out, stage{name: "structured", pruner: &recovery.Structured{Options: opt}, epochs: f.train.epochs})
	}
	if f.removeBlocks > 0 || len(f.blocks) > 0 {
		set++
		opt, err := depthOptions(m, trainSet, f.removeBlocks, f.blocks)
		if err != nil {
			return nil, err
		}
		out = append(out, stage{name: "remove-blocks", pruner: &recovery.Depth{Options: opt}, epochs: f.train.epochs})
	}
	if set == 0 {
		return nil, usagef("say what to prune: --sparsity, --nm, --structured, --remove-blocks or --recipe")
	}
	if set > 1 {
		return nil, usagef("give one pruning method per run, or a --recipe with several stages")
	}
	return out, nil
}

func (f *pruneFlags) recipeStage(ctx context.Context, m *graph.Model, trainSet data.Dataset, s prune.Stage) (stage, error) {
	st := stage{name: s.Name, epochs: s.Epochs}
	switch {
	case s.Unstructured != nil:
		opt, err := s.Unstructured.Options()
		if err != nil {
			return st, err
		}
		st.pruner = recovery.Unstructured{Options: opt}
		st.name = cmpOr(st.name, "unstructured")
	case s.NM != nil:
		st.pruner = recovery.NM{Options: prune.NMOptions{N: s.NM.N, M: s.NM.M, Exclude: s.NM.Exclude}}
		st.name = cmpOr(st.name, "nm")
	case s.Structured != nil:
		c := s.Structured
		crit, err := parseCriterion(cmpOr(c.Criterion, "l1"), c.Seed)
		if err != nil {
			return st, err
		}
		st.pruner = &recovery.Structured{Options: prune.StructuredOptions{Ratio: c.Ratio, Global: c.Global, Criterion: crit,
			RoundTo: c.RoundTo, Seed: c.Seed, Exclude: c.Exclude, PerGroup: c.Groups}}
		st.name = cmpOr(st.name, "structured")
	case s.RemoveBlocks != nil:
		opt, err := depthOptions(m, trainSet, s.RemoveBlocks.K, s.RemoveBlocks.Blocks)
		if err != nil {
			return st, err
		}
		st.pruner = &recovery.Depth{Options: opt}
		st.name = cmpOr(st.name, "remove-blocks")
	}
	return st, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func parseCriterion(s string, seed uint64) (prune.GroupCriterion, error) {
	switch s {
	case "l1":
		return prune.GroupL1{}, nil
	case "l2":
		return prune.GroupL2{}, nil
	case "bn":
		return prune.GroupBNScale{}, nil
	case "random":
		return prune.GroupRandom{Seed: seed}, nil
	}
	return nil, usagef("--criterion %q: want l1, l2, bn or random", s)
}

// depthOptions ranks blocks on calibration batches from the training data
// when there is some, else on seeded random inputs.
func depthOptions(m *graph.Model, trainSet data.Dataset, k int, blocks []string) (prune.DepthOptions, error) {
	opt := prune.DepthOptions{K: k, Blocks: blocks}
	if len(blocks) > 0 {
		return opt, nil
	}
	ins := m.Graph.RealInputs()
	if trainSet != nil && len(ins) == 1 {
		const n = 64
		x, err := calibrationBatch(trainSet, n)
		if err != nil {
			return opt, err
		}
		opt.Calibration = append(opt.Calibration, map[string]*tensor.Tensor{ins[0].Name: x})
		return opt, nil
	}
	feeds, err := benchInputs(m, 8)
	if err != nil {
		return opt, fmt.Errorf("making calibration inputs: %w", err)
	}
	opt.Calibration = append(opt.Calibration, feeds)
	return opt, nil
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

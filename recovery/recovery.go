// Package recovery prunes a model and recovers its accuracy in one run:
// pruning interleaved with fine-tuning on a schedule (one-shot, iterative,
// or gradual cubic as in Zhu & Gupta 2017), masks that keep pruned weights
// at exactly zero, optional distillation from the dense model, optional
// rewinding of surviving weights (lottery ticket), and evaluation before
// and after.
//
// It sits after prune and train in Poda's data flow: it calls the pruners
// of package prune, fine-tunes with package train, runs the teacher with
// package runtime, and reports.
package recovery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/prune"
	"github.com/podaml/poda/runtime"
	"github.com/podaml/poda/tensor"
	"github.com/podaml/poda/train"
)

// Schedule says when pruning happens relative to fine-tuning.
type Schedule int

const (
	// Gradual raises sparsity along the cubic s_t = s_f + (s_i − s_f)·(1 −
	// t/T)³ at pruning events every Every steps during the first Ramp
	// fraction of the budget, then trains at the target for the rest.
	Gradual Schedule = iota
	// OneShot prunes to the target, then fine-tunes for the whole budget.
	OneShot
	// Iterative runs Rounds rounds of prune → fine-tune, each round taking
	// an equal share of the budget and an equal step toward the target
	// along the same cubic.
	Iterative
)

// ParseSchedule reads "gradual", "oneshot" or "iterative".
func ParseSchedule(s string) (Schedule, error) {
	switch s {
	case "", "gradual":
		return Gradual, nil
	case "oneshot", "one-shot":
		return OneShot, nil
	case "iterative":
		return Iterative, nil
	}
	return 0, fmt.Errorf("schedule %q: want gradual, oneshot or iterative", s)
}

func (s Schedule) String() string {
	return [...]string{"gradual", "oneshot", "iterative"}[s]
}

// Pruner brings a model to a fraction of its final pruning (0 = none, 1 =
// the full target) and returns a report to show the user. It is called
// with increasing fractions; unstructured pruners prune the current
// weights, so zeros stay zeros.
type Pruner interface {
	Prune(m *graph.Model, fraction float64) (any, error)
	// Structural reports whether pruning changes tensor shapes (then
	// training restarts at each pruning event rather than masking).
	Structural() bool
}

// Options configure Run.
type Options struct {
	Pruner   Pruner
	Schedule Schedule
	Rounds   int     // Iterative: rounds (default 3)
	Ramp     float64 // Gradual: fraction of the budget over which sparsity rises (default 0.7)
	Every    int     // Gradual: steps between pruning events (default: about 20 events)

	// Train is the fine-tuning budget and optimizer. Its Masks are
	// managed by Run. NewOptimizer, if set, gives a fresh optimizer for
	// each training run (Iterative rounds, structural events).
	Train        train.Config
	NewOptimizer func() train.Optimizer

	// Distill makes the model before pruning the teacher (or Teacher, if
	// set): loss = α·CE + (1−α)·T²·KL.
	Distill            bool
	Teacher            *graph.Model
	Alpha, Temperature float64

	// Rewind resets surviving weights to their values after RewindSteps of
	// fine-tuning at every later pruning event of an Iterative schedule
	// (lottery-ticket rewinding). RewindSteps 0 rewinds to the weights
	// before any fine-tuning.
	Rewind      bool
	RewindSteps int

	// Test, if set, is evaluated before and after.
	Test      data.Dataset
	EvalBatch int
}

// Result reports a prune-and-recover run.
type Result struct {
	AccuracyBefore, AccuracyAfter float64 // on Test; NaN without it
	LossBefore, LossAfter         float64
	Pruning                       []any // one report per pruning event
	Steps                         int
	TrainTime                     time.Duration
	Events                        []Event
}

// Event is one pruning event of the schedule.
type Event struct {
	Step     int     `json:"step"`
	Fraction float64 `json:"fraction"` // of the final pruning
}

// Cubic is Zhu & Gupta's schedule as a fraction of the final sparsity:
// 1 − (1 − t)³ for progress t in [0, 1].
func Cubic(t float64) float64 {
	t = math.Max(0, math.Min(1, t))
	return 1 - math.Pow(1-t, 3)
}

// Run prunes m in place and fine-tunes it on trainSet per opt.
func Run(ctx context.Context, m *graph.Model, trainSet data.Dataset, opt Options) (*Result, error) {
	if opt.Pruner == nil {
		return nil, errors.New("recovery: no pruner")
	}
	res := &Result{AccuracyBefore: math.NaN(), AccuracyAfter: math.NaN()}
	if opt.EvalBatch <= 0 {
		opt.EvalBatch = 256
	}
	if opt.Test != nil {
		met, err := train.Evaluate(ctx, m, opt.Test, opt.EvalBatch)
		if err != nil {
			return nil, fmt.Errorf("evaluating before pruning: %w", err)
		}
		res.AccuracyBefore, res.LossBefore = met.Accuracy, met.Loss
	}
	cfg := opt.Train
	if opt.Distill {
		teacher := opt.Teacher
		if teacher == nil {
			teacher = m.Clone()
		}
		fn, err := teacherFunc(teacher)
		if err != nil {
			return nil, err
		}
		cfg.Teacher, cfg.Alpha, cfg.Temperature = fn, opt.Alpha, opt.Temperature
	}
	budget := totalSteps(trainSet, cfg)
	start := time.Now()
	var err error
	switch {
	case budget == 0:
		// No fine-tuning: prune to the target at once.
		err = res.prune(m, opt.Pruner, 0, 1)
	case opt.Schedule == Gradual && !opt.Pruner.Structural():
		err = runGradual(ctx, m, trainSet, opt, cfg, budget, res)
	default:
		err = runRounds(ctx, m, trainSet, opt, cfg, budget, res)
	}
	if err != nil {
		return res, err
	}
	res.TrainTime = time.Since(start)
	if opt.Test != nil {
		met, err := train.Evaluate(ctx, m, opt.Test, opt.EvalBatch)
		if err != nil {
			return res, fmt.Errorf("evaluating after pruning: %w", err)
		}
		res.AccuracyAfter, res.LossAfter = met.Accuracy, met.Loss
	}
	return res, nil
}

func (r *Result) prune(m *graph.Model, p Pruner, step int, fraction float64) error {
	rep, err := p.Prune(m, fraction)
	if err != nil {
		return err
	}
	r.Pruning = append(r.Pruning, rep)
	r.Events = append(r.Events, Event{Step: step, Fraction: fraction})
	return nil
}

// totalSteps is the optimizer steps of the fine-tuning budget.
func totalSteps(ds data.Dataset, cfg train.Config) int {
	if cfg.BatchSize <= 0 || (cfg.Epochs <= 0 && cfg.MaxSteps <= 0) {
		return 0
	}
	per := ds.Len() / cfg.BatchSize
	if !cfg.DropLast && ds.Len()%cfg.BatchSize != 0 {
		per++
	}
	total := per * cfg.Epochs
	if cfg.MaxSteps > 0 && (total == 0 || cfg.MaxSteps < total) {
		total = cfg.MaxSteps
	}
	return total
}

// runGradual trains once, pruning from the step callback. Masks are
// shared with the trainer, so a pruning event takes effect at the next
// optimizer step, and pruned weights never come back.
func runGradual(ctx context.Context, m *graph.Model, ds data.Dataset, opt Options, cfg train.Config, budget int, res *Result) error {
	ramp := opt.Ramp
	if ramp <= 0 || ramp > 1 {
		ramp = 0.7
	}
	end := max(1, int(ramp*float64(budget)))
	every := opt.Every
	if every <= 0 {
		every = max(1, end/20)
	}
	masks := map[string][]bool{}
	if err := res.prune(m, opt.Pruner, 0, Cubic(0)); err != nil {
		return err
	}
	refreshMasks(m, masks)
	cfg.Masks = masks
	var stepErr error
	userStep := cfg.OnStep
	cfg.OnStep = func(si train.StepInfo) {
		if userStep != nil {
			userStep(si)
		}
		if stepErr != nil || si.Step%every != 0 || si.Step > end {
			return
		}
		frac := Cubic(float64(si.Step) / float64(end))
		if si.Step+every > end {
			frac = 1 // the last event reaches the target exactly
		}
		if err := res.prune(m, opt.Pruner, si.Step, frac); err != nil {
			stepErr = err
			return
		}
		refreshMasks(m, masks)
	}
	if opt.NewOptimizer != nil {
		cfg.Optimizer = opt.NewOptimizer()
	}
	tr, err := train.Fit(ctx, m, ds, cfg)
	if err != nil {
		return err
	}
	if stepErr != nil {
		return stepErr
	}
	res.Steps = tr.Steps
	if last := res.Events[len(res.Events)-1]; last.Fraction < 1 {
		// The budget ended before the ramp did: finish pruning.
		return res.prune(m, opt.Pruner, tr.Steps, 1)
	}
	return nil
}

// refreshMasks sets every float weight's mask to its non-zero pattern,
// reusing the slices the trainer holds.
func refreshMasks(m *graph.Model, masks map[string][]bool) {
	for _, t := range prune.Targets(m) {
		w := m.Graph.Initializer(t.Tensor).F32
		mk := masks[t.Tensor]
		if len(mk) != len(w) {
			mk = make([]bool, len(w))
			masks[t.Tensor] = mk
		}
		for i, v := range w {
			mk[i] = v != 0
		}
	}
}

// runRounds prunes in Rounds steps (OneShot: one), fine-tuning after each
// for an equal share of the budget.
func runRounds(ctx context.Context, m *graph.Model, ds data.Dataset, opt Options, cfg train.Config, budget int, res *Result) error {
	rounds := 1
	if opt.Schedule != OneShot {
		rounds = opt.Rounds
		if rounds <= 0 {
			rounds = 3
		}
	}
	share := max(1, budget/rounds)
	var rewind map[string][]float32
	if opt.Rewind && opt.RewindSteps == 0 {
		rewind = snapshot(m)
	}
	for r := 1; r <= rounds; r++ {
		frac := Cubic(float64(r) / float64(rounds))
		if r == rounds {
			frac = 1
		}
		if err := res.prune(m, opt.Pruner, res.Steps, frac); err != nil {
			return err
		}
		if rewind != nil && r > 1 {
			restoreSurvivors(m, rewind)
		}
		c := cfg
		c.Epochs = 0
		c.MaxSteps = share
		if r == rounds {
			c.MaxSteps = budget - share*(rounds-1)
		}
		c.Seed = cfg.Seed + uint64(r)
		if !opt.Pruner.Structural() {
			masks := map[string][]bool{}
			refreshMasks(m, masks)
			c.Masks = masks
		} else {
			c.Masks = nil
		}
		if opt.NewOptimizer != nil {
			c.Optimizer = opt.NewOptimizer()
		}
		if userStep, offset := c.OnStep, res.Steps; userStep != nil {
			// Number steps across rounds, as one budget.
			c.OnStep = func(si train.StepInfo) {
				si.Step += offset
				userStep(si)
			}
		}
		if opt.Rewind && opt.RewindSteps > 0 && rewind == nil {
			userStep, offset := c.OnStep, res.Steps
			c.OnStep = func(si train.StepInfo) {
				if userStep != nil {
					userStep(si)
				}
				if si.Step-offset == opt.RewindSteps && rewind == nil {
					rewind = snapshot(m)
				}
			}
		}
		tr, err := train.Fit(ctx, m, ds, c)
		if err != nil {
			return err
		}
		res.Steps += tr.Steps
	}
	return nil
}

func snapshot(m *graph.Model) map[string][]float32 {
	s := map[string][]float32{}
	for _, t := range prune.Targets(m) {
		s[t.Tensor] = append([]float32(nil), m.Graph.Initializer(t.Tensor).F32...)
	}
	return s
}

// restoreSurvivors rewinds the non-zero weights to their snapshot values.
func restoreSurvivors(m *graph.Model, snap map[string][]float32) {
	for name, old := range snap {
		w := m.Graph.Initializer(name)
		if w == nil || len(w.F32) != len(old) {
			continue // reshaped by structured pruning
		}
		for i, v := range w.F32 {
			if v != 0 {
				w.F32[i] = old[i]
			}
		}
	}
}

// teacherFunc runs the teacher in Poda's runtime and returns its first
// output (the logits) for a batch.
func teacherFunc(teacher *graph.Model) (func(x *tensor.Tensor) (*tensor.Tensor, error), error) {
	s, err := runtime.New(teacher, runtime.Options{})
	if err != nil {
		return nil, fmt.Errorf("loading the teacher: %w", err)
	}
	in := s.InputNames()
	out := s.OutputNames()
	if len(in) != 1 || len(out) == 0 {
		return nil, fmt.Errorf("teacher must have one input and an output, has %d inputs", len(in))
	}
	return func(x *tensor.Tensor) (*tensor.Tensor, error) {
		res, err := s.Run(context.Background(), map[string]*tensor.Tensor{in[0]: x})
		if err != nil {
			return nil, err
		}
		return res[out[0]], nil
	}, nil
}

package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// ErrDiverged is returned by Fit when the loss or the gradient of a batch is
// no longer finite (NaN or ±Inf), which happens when the learning rate is too
// high for the model. Fit stops at the first such batch; the parameters (and
// batch-norm statistics) may by then hold huge or non-finite values, so the
// model should be discarded, not saved.
var ErrDiverged = errors.New("train: training diverged")

// finite reports whether x is neither NaN nor ±Inf.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// Config configures Fit. The zero value of every field but Epochs (or
// MaxSteps), BatchSize and LR is a sensible default.
type Config struct {
	Epochs    int
	BatchSize int
	LR        float64
	// Optimizer defaults to plain SGD. Its state is used and advanced by
	// Fit; pass a fresh value per run.
	Optimizer Optimizer
	// Schedule defaults to Constant; it is indexed by optimizer step.
	Schedule Schedule
	// ClipNorm, if positive, clips the global gradient norm.
	ClipNorm float64
	// MaxSteps, if positive, stops after that many optimizer steps in all
	// (the schedule then spans MaxSteps).
	MaxSteps int
	// Seed fixes the data order and dropout: the same seed gives the same
	// weights.
	Seed      uint64
	NoShuffle bool // serve the data in file order
	DropLast  bool // skip the final partial batch of each epoch

	// Masks keep pruned weights at exactly zero (true = kept), keyed by
	// initializer name; see MaskFromZeros and NMMask.
	Masks map[string][]bool
	// Freeze names initializers not to train; FreezeBN keeps
	// BatchNormalization in inference mode.
	Freeze   []string
	FreezeBN bool

	// Teacher, if set, returns the teacher's logits for a batch, and the
	// loss becomes Alpha·CE + (1 − Alpha)·T²·KL (see Distillation).
	// Temperature 0 means 1.
	Teacher            func(x *tensor.Tensor) (*tensor.Tensor, error)
	Alpha, Temperature float64

	// OnStep, if set, is called after every optimizer step.
	OnStep func(StepInfo)

	// CheckpointDir, if set, receives a checkpoint (CheckpointFile) every
	// CheckpointEvery steps (0: at the end of every epoch), at the end, and
	// when ctx ends the run early.
	// With Resume, Fit continues from the checkpoint there, if any, and
	// reproduces the uninterrupted run bit for bit.
	CheckpointDir   string
	CheckpointEvery int
	Resume          bool
}

// StepInfo describes one optimizer step.
type StepInfo struct {
	Step     int // steps done, this one included
	Epoch    int
	Batch    int // examples in the batch
	Loss     float64
	LR       float64
	GradNorm float64 // before clipping
	Correct  int     // examples of the batch whose top-1 prediction (before the step) was right
}

// Result summarises a Fit run.
type Result struct {
	Steps       int       // optimizer steps done in all (including before a resume)
	Samples     int       // examples trained on in this call
	EpochLosses []float64 // mean training loss of each epoch run in this call (the last may be partial)
	LastLoss    float64
	Wall        time.Duration
	Resumed     bool
}

// Fit trains m's parameters in place on ds (examples of the model input's
// shape without the batch dimension, labels indexing the output logits)
// with the softmax cross-entropy of the first graph output.
func Fit(ctx context.Context, m *graph.Model, ds data.Dataset, cfg Config) (*Result, error) {
	start := time.Now()
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("train: batch size %d", cfg.BatchSize)
	}
	if cfg.Epochs <= 0 && cfg.MaxSteps <= 0 {
		return nil, fmt.Errorf("train: neither Epochs nor MaxSteps is positive")
	}
	if !(cfg.LR >= 0) {
		return nil, fmt.Errorf("train: learning rate %v", cfg.LR)
	}
	if cfg.Optimizer == nil {
		cfg.Optimizer = &SGD{}
	}
	if cfg.Schedule == nil {
		cfg.Schedule = Constant{}
	}
	if cfg.Temperature == 0 {
		cfg.Temperature = 1
	}
	p, err := Compile(m, Options{Freeze: cfg.Freeze, FreezeBN: cfg.FreezeBN, Seed: cfg.Seed})
	if err != nil {
		return nil, err
	}
	if err := p.checkInput(append([]int{cfg.BatchSize}, ds.Shape()...)); err != nil {
		return nil, fmt.Errorf("%w (data set examples have shape %v)", err, ds.Shape())
	}
	for name, mask := range cfg.Masks {
		if err := p.SetMask(name, mask); err != nil {
			return nil, err
		}
	}
	ld, err := data.NewLoader(ds, cfg.BatchSize, !cfg.NoShuffle, cfg.Seed, cfg.DropLast)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	defer ld.Close()
	perEpoch := ld.BatchesPerEpoch()
	total := perEpoch * cfg.Epochs
	if cfg.MaxSteps > 0 && (total == 0 || cfg.MaxSteps < total) {
		total = cfg.MaxSteps
	}
	epochs := cfg.Epochs
	if epochs <= 0 {
		epochs = math.MaxInt
	}

	res := &Result{}
	st := &runState{}
	hash := configHash(&cfg, p, ds)
	if cfg.Resume && cfg.CheckpointDir != "" {
		ok, err := loadCheckpoint(cfg.CheckpointDir, hash, p, cfg.Optimizer, st)
		if err != nil {
			return nil, err
		}
		if ok {
			res.Resumed = true
			if err := ld.Seek(st.Epoch, st.Index); err != nil {
				return nil, fmt.Errorf("train: resuming: %w", err)
			}
		}
	}
	save := func() error {
		if cfg.CheckpointDir == "" {
			return nil
		}
		st.Epoch, st.Index = ld.State()
		return saveCheckpoint(cfg.CheckpointDir, hash, p, cfg.Optimizer, st)
	}

	var grad []float32
	var epochLoss float64
	var epochN int
	if st.Index > 0 {
		epochLoss, epochN = st.EpochLoss, st.EpochN
	}
	// interrupted saves a checkpoint (the state between two steps is
	// consistent) and returns err.
	interrupted := func(err error) (*Result, error) {
		res.Steps = st.Steps
		res.Wall = time.Since(start)
		if serr := save(); serr != nil {
			return res, errors.Join(err, serr)
		}
		return res, err
	}
	for st.Steps < total {
		if err := ctx.Err(); err != nil {
			return interrupted(err)
		}
		b, err := ld.Next(ctx)
		if errors.Is(err, io.EOF) {
			if epochN > 0 {
				res.EpochLosses = append(res.EpochLosses, epochLoss/float64(epochN))
			}
			epochLoss, epochN = 0, 0
			st.EpochLoss, st.EpochN = 0, 0
			if e, _ := ld.State(); e >= epochs {
				break
			}
			if cfg.CheckpointEvery == 0 {
				if err := save(); err != nil {
					return res, err
				}
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return interrupted(err)
			}
			return res, fmt.Errorf("train: reading batch: %w", err)
		}
		if b.Epoch >= epochs {
			break
		}
		out, err := p.Forward(b.X, true)
		if err != nil {
			return res, err
		}
		grad = grow(grad, len(out.F32))
		var teacher *tensor.Tensor
		if cfg.Teacher != nil {
			teacher, err = cfg.Teacher(b.X)
			if err != nil {
				return res, fmt.Errorf("train: teacher: %w", err)
			}
		}
		alpha := 1.0
		if teacher != nil {
			alpha = cfg.Alpha
		}
		correct := countCorrect(out, b.Labels)
		loss, err := Distillation(out, teacher, b.Labels, alpha, cfg.Temperature, grad)
		if err != nil {
			return res, err
		}
		if err := p.Backward(grad); err != nil {
			return res, err
		}
		norm := ClipGradNorm(p.params, cfg.ClipNorm)
		if !finite(loss) || !finite(norm) {
			res.Steps = st.Steps
			res.Wall = time.Since(start)
			return res, fmt.Errorf("%w at step %d (epoch %d): loss %v, gradient norm %v; lower the learning rate or clip the gradient norm",
				ErrDiverged, st.Steps+1, b.Epoch, loss, norm)
		}
		lr := cfg.Schedule.LR(cfg.LR, st.Steps, total)
		cfg.Optimizer.Step(p.params, lr)
		st.Steps++
		res.Samples += len(b.Labels)
		res.LastLoss = loss
		epochLoss += loss * float64(len(b.Labels))
		epochN += len(b.Labels)
		st.EpochLoss, st.EpochN = epochLoss, epochN
		st.RNG = p.rng.ctr
		if cfg.OnStep != nil {
			cfg.OnStep(StepInfo{Step: st.Steps, Epoch: b.Epoch, Batch: len(b.Labels), Loss: loss, LR: lr, GradNorm: norm, Correct: correct})
		}
		if cfg.CheckpointEvery > 0 && st.Steps%cfg.CheckpointEvery == 0 {
			if err := save(); err != nil {
				return res, err
			}
		}
	}
	if epochN > 0 {
		res.EpochLosses = append(res.EpochLosses, epochLoss/float64(epochN))
	}
	res.Steps = st.Steps
	if err := save(); err != nil {
		return res, err
	}
	res.Wall = time.Since(start)
	return res, nil
}

// Metrics are the results of Evaluate.
type Metrics struct {
	Accuracy, Top5 float64 // fractions in [0, 1]
	Loss           float64 // mean softmax cross-entropy
	Samples        int
	Wall           time.Duration
}

// Evaluate runs m in inference mode (BatchNormalization with running
// statistics, no dropout) over ds in order and measures top-1 and top-5
// accuracy and the mean cross-entropy.
func Evaluate(ctx context.Context, m *graph.Model, ds data.Dataset, batch int) (Metrics, error) {
	start := time.Now()
	p, err := compileInference(m)
	if err != nil {
		return Metrics{}, err
	}
	ld, err := data.NewLoader(ds, batch, false, 0, false)
	if err != nil {
		return Metrics{}, fmt.Errorf("train: %w", err)
	}
	defer ld.Close()
	var mt Metrics
	var top1, top5 int
	var loss float64
	for {
		b, err := ld.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return mt, fmt.Errorf("train: reading batch: %w", err)
		}
		out, err := p.Forward(b.X, false)
		if err != nil {
			return mt, err
		}
		l, err := CrossEntropy(out, b.Labels, nil)
		if err != nil {
			return mt, err
		}
		n := len(b.Labels)
		loss += l * float64(n)
		c := out.Shape[1]
		for r, y := range b.Labels {
			row := out.F32[r*c : (r+1)*c]
			rank := 0
			for _, v := range row {
				if v > row[y] {
					rank++
				}
			}
			if rank == 0 {
				top1++
			}
			if rank < 5 {
				top5++
			}
		}
		mt.Samples += n
	}
	if mt.Samples > 0 {
		mt.Accuracy = float64(top1) / float64(mt.Samples)
		mt.Top5 = float64(top5) / float64(mt.Samples)
		mt.Loss = loss / float64(mt.Samples)
	}
	mt.Wall = time.Since(start)
	return mt, nil
}

// compileInference compiles m with every initializer frozen.
func compileInference(m *graph.Model) (*Program, error) {
	var all []string
	for _, t := range m.Graph.Initializers {
		all = append(all, t.Name)
	}
	return Compile(m, Options{Freeze: all})
}

// Teacher returns a Config.Teacher that runs m (in inference mode, with its
// own buffers) on each batch. The logits it returns are valid until its
// next call.
func Teacher(m *graph.Model) (func(x *tensor.Tensor) (*tensor.Tensor, error), error) {
	p, err := compileInference(m)
	if err != nil {
		return nil, err
	}
	return func(x *tensor.Tensor) (*tensor.Tensor, error) { return p.Forward(x, false) }, nil
}

// countCorrect counts the rows of logits [N, C] whose largest entry is at
// the label.
func countCorrect(logits *tensor.Tensor, labels []int) int {
	if len(logits.Shape) != 2 || logits.Shape[0] != len(labels) {
		return 0
	}
	c := logits.Shape[1]
	n := 0
	for i, y := range labels {
		row := logits.F32[i*c : (i+1)*c]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == y {
			n++
		}
	}
	return n
}

package train

import (
	"encoding/gob"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/internal/atomicfile"
)

// CheckpointFile is the name of the checkpoint Fit writes in
// Config.CheckpointDir.
const CheckpointFile = "train.ckpt"

// ErrCheckpointMismatch reports a checkpoint written for a different
// model, data set or configuration.
var ErrCheckpointMismatch = errors.New("train: checkpoint does not match this run")

// runState is the position of a run.
type runState struct {
	Steps        int
	Epoch, Index int // data cursor: the next batch
	RNG          uint64
	EpochLoss    float64
	EpochN       int
}

// checkpoint is what a checkpoint file holds (gob-encoded).
type checkpoint struct {
	Version    int
	ConfigHash uint64
	State      runState
	Seed       uint64
	Tensors    map[string][]float32 // parameters and running statistics
	OptSteps   int
	OptState   map[string][][]float32 // per parameter
}

// configHash fingerprints everything that determines the trajectory: the
// parameters' names and shapes, the data set's size and shape, and the
// configuration (not the callbacks, checkpoint settings or mask contents).
func configHash(cfg *Config, p *Program, ds data.Dataset) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "epochs=%d bs=%d lr=%v clip=%v max=%d seed=%d noshuf=%v drop=%v freeze=%v fbn=%v alpha=%v T=%v teacher=%v\n",
		cfg.Epochs, cfg.BatchSize, cfg.LR, cfg.ClipNorm, cfg.MaxSteps, cfg.Seed, cfg.NoShuffle, cfg.DropLast,
		cfg.Freeze, cfg.FreezeBN, cfg.Alpha, cfg.Temperature, cfg.Teacher != nil)
	fmt.Fprintf(h, "opt=%s sched=%T%+v\n", optimizerKey(cfg.Optimizer), cfg.Schedule, cfg.Schedule)
	keys := make([]string, 0, len(p.params))
	for _, q := range p.params {
		keys = append(keys, fmt.Sprintf("%q%v mask=%v;", q.Name, q.Shape, q.Mask != nil))
	}
	sort.Strings(keys)
	for _, k := range keys {
		io.WriteString(h, k)
	}
	fmt.Fprintf(h, "data=%d%v%d", ds.Len(), ds.Shape(), ds.Classes())
	return h.Sum64()
}

// optimizerKey describes an optimizer's hyperparameters (not its state).
func optimizerKey(o Optimizer) string {
	switch o := o.(type) {
	case *SGD:
		return fmt.Sprintf("SGD{%v %v %v %v}", o.Momentum, o.Dampening, o.WeightDecay, o.Nesterov)
	case *Adam:
		return fmt.Sprintf("Adam{%v %v %v %v %v}", o.Beta1, o.Beta2, o.Eps, o.WeightDecay, o.Decoupled)
	}
	return reflect.TypeOf(o).String()
}

func saveCheckpoint(dir string, hash uint64, p *Program, opt Optimizer, st *runState) error {
	steps, bufs := opt.state(p.params)
	st.RNG = p.rng.ctr
	ck := checkpoint{Version: 1, ConfigHash: hash, State: *st, Seed: p.rng.seed,
		Tensors: map[string][]float32{}, OptSteps: *steps, OptState: map[string][][]float32{}}
	for k, q := range p.params {
		ck.Tensors[q.Name] = q.Data
		ck.OptState[q.Name] = bufs[k]
	}
	for _, t := range p.stats {
		ck.Tensors[t.Name] = t.F32
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: checkpoint: %w", err)
	}
	path := filepath.Join(dir, CheckpointFile)
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return gob.NewEncoder(w).Encode(&ck) })
	if err != nil {
		return fmt.Errorf("train: writing checkpoint %s: %w", path, err)
	}
	return nil
}

// loadCheckpoint restores a run from dir; ok is false if there is no
// checkpoint.
func loadCheckpoint(dir string, hash uint64, p *Program, opt Optimizer, st *runState) (ok bool, err error) {
	path := filepath.Join(dir, CheckpointFile)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("train: %w", err)
	}
	defer f.Close()
	var ck checkpoint
	if err := gob.NewDecoder(f).Decode(&ck); err != nil {
		return false, fmt.Errorf("train: reading checkpoint %s: %w", path, err)
	}
	if ck.Version != 1 || ck.ConfigHash != hash || ck.Seed != p.rng.seed {
		return false, fmt.Errorf("%w: %s (config hash %x, want %x)", ErrCheckpointMismatch, path, ck.ConfigHash, hash)
	}
	restore := func(name string, dst []float32) error {
		src, ok := ck.Tensors[name]
		if !ok || len(src) != len(dst) {
			return fmt.Errorf("%w: %s: tensor %q missing or resized", ErrCheckpointMismatch, path, name)
		}
		copy(dst, src)
		return nil
	}
	for _, q := range p.params {
		if err := restore(q.Name, q.Data); err != nil {
			return false, err
		}
	}
	for _, t := range p.stats {
		if err := restore(t.Name, t.F32); err != nil {
			return false, err
		}
	}
	steps, bufs := opt.state(p.params)
	for k, q := range p.params {
		saved := ck.OptState[q.Name]
		if len(saved) != len(bufs[k]) {
			return false, fmt.Errorf("%w: %s: optimizer state of %q has %d buffers, want %d", ErrCheckpointMismatch, path, q.Name, len(saved), len(bufs[k]))
		}
		for i, b := range bufs[k] {
			if len(b) != len(saved[i]) {
				return false, fmt.Errorf("%w: %s: optimizer state of %q resized", ErrCheckpointMismatch, path, q.Name)
			}
			copy(b, saved[i])
		}
	}
	*steps = ck.OptSteps
	*st = ck.State
	p.rng.ctr = ck.State.RNG
	return true, nil
}

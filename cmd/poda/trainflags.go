package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/podaml/poda/train"
)

// trainFlags are the fine-tuning options shared by finetune and prune.
type trainFlags struct {
	epochs     float64
	batch      int
	lr         float64
	optimizer  string
	lrSchedule string
	momentum   float64
	wd         float64
	clip       float64
	seed       uint64
	checkpoint string
	resume     bool
	sgdLR      float64 // the default rate for SGD
}

func (t *trainFlags) register(fs *flag.FlagSet, defaultEpochs, sgdLR float64) {
	t.sgdLR = sgdLR
	fs.Float64Var(&t.epochs, "epochs", defaultEpochs, "fine-tuning budget in `EPOCHS` (fractions allowed)")
	fs.IntVar(&t.batch, "batch", 128, "training batch `N`")
	fs.Float64Var(&t.lr, "lr", 0, fmt.Sprintf("learning `RATE` (default %g for sgd, 0.001 for adam/adamw)", sgdLR))
	fs.StringVar(&t.optimizer, "optimizer", "sgd", "`sgd|adam|adamw`")
	fs.StringVar(&t.lrSchedule, "lr-schedule", "cosine", "`constant|step|cosine|onecycle` learning-rate schedule")
	fs.Float64Var(&t.momentum, "momentum", 0.9, "SGD `MOMENTUM`")
	fs.Float64Var(&t.wd, "weight-decay", 0, "weight `DECAY` (decoupled for adamw)")
	fs.Float64Var(&t.clip, "clip", 0, "clip the global gradient norm to `MAX` (0: off)")
	fs.Uint64Var(&t.seed, "seed", 1, "`SEED` for data order, dropout and random pruning")
	fs.StringVar(&t.checkpoint, "checkpoint", "", "write atomic checkpoints to `DIR`")
	fs.BoolVar(&t.resume, "resume", false, "continue from the checkpoint in --checkpoint")
}

// config builds the train.Config for a data set of n examples; progress
// goes to w.
func (t *trainFlags) config(n int, w io.Writer, prefix string) (train.Config, func() train.Optimizer, error) {
	if t.batch <= 0 {
		return train.Config{}, nil, usagef("--batch %d must be positive", t.batch)
	}
	if t.epochs < 0 {
		return train.Config{}, nil, usagef("--epochs %v must not be negative", t.epochs)
	}
	perEpoch := (n + t.batch - 1) / t.batch
	steps := int(t.epochs * float64(perEpoch))
	lr := t.lr
	newOpt := func() train.Optimizer { return &train.SGD{Momentum: t.momentum, WeightDecay: t.wd} }
	switch t.optimizer {
	case "sgd":
		if lr == 0 {
			lr = t.sgdLR
		}
	case "adam", "adamw":
		if lr == 0 {
			lr = 0.001
		}
		decoupled := t.optimizer == "adamw"
		newOpt = func() train.Optimizer { return &train.Adam{WeightDecay: t.wd, Decoupled: decoupled} }
	default:
		return train.Config{}, nil, usagef("--optimizer %q: want sgd, adam or adamw", t.optimizer)
	}
	var sched train.Schedule
	switch t.lrSchedule {
	case "constant":
		sched = train.Constant{}
	case "step":
		sched = train.StepDecay{Every: max(1, steps/3), Gamma: 0.1}
	case "cosine":
		sched = train.Cosine{}
	case "onecycle":
		sched = train.OneCycle{}
	default:
		return train.Config{}, nil, usagef("--lr-schedule %q: want constant, step, cosine or onecycle", t.lrSchedule)
	}
	cfg := train.Config{MaxSteps: steps, BatchSize: t.batch, LR: lr, Optimizer: newOpt(), Schedule: sched,
		ClipNorm: t.clip, Seed: t.seed, CheckpointDir: t.checkpoint, Resume: t.resume}
	if steps > 0 {
		p := newProgress(w, steps, prefix)
		cfg.OnStep = p.step
	}
	return cfg, newOpt, nil
}

package train

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

func TestDistillationGrad(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	s, te := randT(r, 4, 6), randT(r, 4, 6)
	labels := []int{0, 5, 2, 2}
	for _, c := range []struct{ alpha, T float64 }{{1, 1}, {0.3, 4}, {0, 2}, {0.5, 1}} {
		grad := make([]float32, 24)
		if _, err := Distillation(s, te, labels, c.alpha, c.T, grad); err != nil {
			t.Fatal(err)
		}
		const eps = 1e-3
		for i := range s.F32 {
			old := s.F32[i]
			s.F32[i] = old + eps
			lp, _ := Distillation(s, te, labels, c.alpha, c.T, nil)
			s.F32[i] = old - eps
			lm, _ := Distillation(s, te, labels, c.alpha, c.T, nil)
			s.F32[i] = old
			fd := (lp - lm) / (2 * eps)
			if math.Abs(fd-float64(grad[i])) > 1e-3*math.Max(1, math.Abs(fd)) {
				t.Errorf("alpha %v T %v: dL/ds[%d] = %v, finite difference %v", c.alpha, c.T, i, grad[i], fd)
			}
		}
	}
	// KL(p‖p) = 0: distilling from itself leaves only the CE term.
	l1, _ := Distillation(s, s, labels, 0.4, 3, nil)
	l2, _ := CrossEntropy(s, labels, nil)
	if math.Abs(l1-0.4*l2) > 1e-9 {
		t.Errorf("self-distillation loss %v, want %v", l1, 0.4*l2)
	}
}

// smallNet is conv(3x3, 4) + BN + relu + maxpool + dropout + flatten +
// gemm to 3 classes on [1, 6, 6] inputs.
func smallNet(seed uint64) *graph.Model {
	r := rand.New(rand.NewPCG(seed, 99))
	w := randT(r, 4, 1, 3, 3)
	fc := randT(r, 3, 16)
	for i := range fc.F32 {
		fc.F32[i] *= 0.3
	}
	ones := tensor.New(4)
	for i := range ones.F32 {
		ones.F32[i] = 1
	}
	return model([]*graph.Node{
		node("Conv", []string{"x", "w", "b"}, []string{"c"}, "kernel_shape", []int{3, 3}, "pads", []int{1, 1, 1, 1}),
		node("BatchNormalization", []string{"c", "g", "be", "rm", "rv"}, []string{"n"}),
		node("Relu", []string{"n"}, []string{"a"}),
		node("MaxPool", []string{"a"}, []string{"p"}, "kernel_shape", []int{3, 3}, "strides", []int{3, 3}),
		node("Dropout", []string{"p", "ratio"}, []string{"d"}),
		node("Flatten", []string{"d"}, []string{"f"}),
		node("Gemm", []string{"f", "fc", "fb"}, []string{"y"}, "transB", 1),
	}, map[string]*tensor.Tensor{
		"w": w, "b": tensor.New(4), "g": ones, "be": tensor.New(4), "rm": tensor.New(4), "rv": ones.Clone(),
		"ratio": tensor.FromFloat32([]float32{0.2}), "fc": fc, "fb": tensor.New(3),
	}, "y")
}

// blobs is a learnable synthetic data set: the class decides which
// quadrant of the 6×6 image is bright.
func blobs(n int, seed uint64) data.Dataset {
	r := rand.New(rand.NewPCG(seed, 7))
	x := make([]float32, n*36)
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(3)
		for j := 0; j < 36; j++ {
			v := float32(r.NormFloat64()) * 0.5
			row, col := j/6, j%6
			if (y[i] == 0 && row < 3 && col < 3) || (y[i] == 1 && row >= 3) || (y[i] == 2 && row < 3 && col >= 3) {
				v += 1.5
			}
			x[i*36+j] = v
		}
	}
	ds, err := data.NewMemory(x, y, []int{1, 6, 6}, 3)
	if err != nil {
		panic(err)
	}
	return ds
}

func weights(m *graph.Model) map[string][]float32 {
	out := map[string][]float32{}
	for _, t := range m.Graph.Initializers {
		out[t.Name] = append([]float32(nil), t.F32...)
	}
	return out
}

func sameWeights(t *testing.T, what string, a, b map[string][]float32) {
	t.Helper()
	for k, va := range a {
		vb := b[k]
		for i := range va {
			if math.Float32bits(va[i]) != math.Float32bits(vb[i]) {
				t.Fatalf("%s: %s[%d] = %v vs %v", what, k, i, va[i], vb[i])
			}
		}
	}
}

func TestFitLearnsAndIsDeterministic(t *testing.T) {
	ds, test := blobs(300, 1), blobs(150, 2)
	cfg := func() Config {
		return Config{Epochs: 3, BatchSize: 16, LR: 0.05, Optimizer: &SGD{Momentum: 0.9}, Schedule: Cosine{}, Seed: 5, ClipNorm: 5}
	}
	m1 := smallNet(1)
	before, err := Evaluate(context.Background(), m1, test, 64)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Fit(context.Background(), m1, ds, cfg())
	if err != nil {
		t.Fatal(err)
	}
	after, err := Evaluate(context.Background(), m1, test, 64)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy %.3f → %.3f, loss %.3f → %.3f, epoch losses %v, %d steps", before.Accuracy, after.Accuracy, before.Loss, after.Loss, res.EpochLosses, res.Steps)
	if after.Accuracy < 0.9 || after.Loss >= before.Loss {
		t.Errorf("did not learn: accuracy %.3f, loss %.3f → %.3f", after.Accuracy, before.Loss, after.Loss)
	}
	if res.Steps != 3*19 || after.Samples != 150 {
		t.Errorf("%d steps, %d eval samples", res.Steps, after.Samples)
	}
	m2 := smallNet(1)
	if _, err := Fit(context.Background(), m2, ds, cfg()); err != nil {
		t.Fatal(err)
	}
	sameWeights(t, "same seed", weights(m1), weights(m2))
	m3 := smallNet(1)
	c3 := cfg()
	c3.Seed = 6
	if _, err := Fit(context.Background(), m3, ds, c3); err != nil {
		t.Fatal(err)
	}
	if w1, w3 := weights(m1), weights(m3); w1["w"][0] == w3["w"][0] && w1["fc"][0] == w3["fc"][0] {
		t.Error("a different seed gave the same weights")
	}
}

func TestResumeIsBitForBit(t *testing.T) {
	ds := blobs(200, 3)
	for name, mk := range map[string]func() Optimizer{
		"sgd":  func() Optimizer { return &SGD{Momentum: 0.9, WeightDecay: 1e-4} },
		"adam": func() Optimizer { return &Adam{} },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := func(dir string) Config {
				return Config{Epochs: 3, BatchSize: 24, LR: 0.01, Optimizer: mk(), Schedule: OneCycle{}, Seed: 11,
					CheckpointDir: dir, CheckpointEvery: 5, Resume: true,
					Masks: map[string][]bool{"fc": MaskFromZeros(smallNetPruned().Graph.Initializer("fc").F32)}}
			}
			straight := smallNetPruned()
			r1, err := Fit(context.Background(), straight, ds, cfg(t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			dir, crash := t.TempDir(), t.TempDir()
			ctx, cancel := context.WithCancel(context.Background())
			c := cfg(dir)
			half := r1.Steps / 2 // 13: not a multiple of CheckpointEvery
			c.OnStep = func(s StepInfo) {
				if s.Step == 12 {
					// what a crash after step 12 would leave: the checkpoint of step 10
					b, err := os.ReadFile(filepath.Join(dir, CheckpointFile))
					if err != nil {
						t.Error(err)
					}
					if err := os.WriteFile(filepath.Join(crash, CheckpointFile), b, 0o644); err != nil {
						t.Error(err)
					}
				}
				if s.Step == half {
					cancel() // Fit saves a checkpoint at step 13 and returns
				}
			}
			first := smallNetPruned()
			if _, err := Fit(ctx, first, ds, c); !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted run: %v", err)
			}
			resumed := smallNetPruned() // fresh weights: everything comes from the checkpoint
			r2, err := Fit(context.Background(), resumed, ds, cfg(dir))
			if err != nil {
				t.Fatal(err)
			}
			if !r2.Resumed || r2.Steps != r1.Steps || r2.Samples >= r1.Samples {
				t.Fatalf("resumed run: %+v; straight: %+v", r2, r1)
			}
			sameWeights(t, "resumed", weights(straight), weights(resumed))
			afterCrash := smallNetPruned()
			if _, err := Fit(context.Background(), afterCrash, ds, cfg(crash)); err != nil {
				t.Fatal(err)
			}
			sameWeights(t, "resumed after a crash", weights(straight), weights(afterCrash))
			for i, v := range resumed.Graph.Initializer("fc").F32 {
				if i%2 == 0 && v != 0 {
					t.Fatalf("masked fc[%d] = %v", i, v)
				}
			}
			// A different configuration refuses the checkpoint.
			c = cfg(dir)
			c.LR = 0.02
			if _, err := Fit(context.Background(), smallNetPruned(), ds, c); !errors.Is(err, ErrCheckpointMismatch) {
				t.Errorf("changed LR: %v, want ErrCheckpointMismatch", err)
			}
		})
	}
}

// smallNetPruned is smallNet with every other fc weight zero.
func smallNetPruned() *graph.Model {
	m := smallNet(4)
	fc := m.Graph.Initializer("fc").F32
	for i := 0; i < len(fc); i += 2 {
		fc[i] = 0
	}
	return m
}

func TestTrainingStepDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	m := smallNet(2)
	p, err := Compile(m, Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ds := blobs(8, 4)
	x := tensor.New(8, 1, 6, 6)
	labels := make([]int, 8)
	for i := range labels {
		labels[i], _ = ds.Example(i, x.F32[i*36:(i+1)*36])
	}
	opt := &Adam{}
	grad := make([]float32, 8*3)
	step := func() {
		out, err := p.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Distillation(out, nil, labels, 1, 1, grad); err != nil {
			t.Fatal(err)
		}
		if err := p.Backward(grad); err != nil {
			t.Fatal(err)
		}
		ClipGradNorm(p.Params(), 1)
		opt.Step(p.Params(), 1e-3)
	}
	step()
	if a := testing.AllocsPerRun(20, step); a != 0 {
		t.Errorf("%.1f allocations per training step", a)
	}
}

func TestFitDistillation(t *testing.T) {
	ds, test := blobs(300, 5), blobs(150, 6)
	teacher := smallNet(7)
	if _, err := Fit(context.Background(), teacher, ds, Config{Epochs: 3, BatchSize: 16, LR: 0.05, Optimizer: &SGD{Momentum: 0.9}, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	tf, err := Teacher(teacher)
	if err != nil {
		t.Fatal(err)
	}
	student := smallNet(8)
	res, err := Fit(context.Background(), student, ds, Config{Epochs: 3, BatchSize: 16, LR: 0.02, Optimizer: &Adam{},
		Teacher: tf, Alpha: 0.3, Temperature: 3, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	mt, err := Evaluate(context.Background(), student, test, 50)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("distilled student: accuracy %.3f, epoch losses %v", mt.Accuracy, res.EpochLosses)
	if mt.Accuracy < 0.85 || res.EpochLosses[2] >= res.EpochLosses[0] {
		t.Errorf("distillation did not train: accuracy %.3f, losses %v", mt.Accuracy, res.EpochLosses)
	}
}

// TestFitSteadyStateAllocations compares the allocations of a short and a
// long Fit: the difference, per extra step, must be (almost) nothing.
func TestFitSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	ds := blobs(8192, 9) // 256 batches: one epoch
	mallocs := func(steps int) uint64 {
		m := smallNet(3)
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		if _, err := Fit(context.Background(), m, ds, Config{Epochs: 100, MaxSteps: steps, BatchSize: 32, DropLast: true,
			LR: 0.01, Optimizer: &Adam{}, Schedule: Cosine{}, ClipNorm: 1, Seed: 1, OnStep: func(StepInfo) {}}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&b)
		return b.Mallocs - a.Mallocs
	}
	short, long := mallocs(20), mallocs(220)
	per := (float64(long) - float64(short)) / 200
	t.Logf("%d allocations for 20 steps, %d for 220: %.2f per extra step", short, long, per)
	if per > 0.5 {
		t.Errorf("%.2f allocations per training step in steady state", per)
	}
}

// TestFitStopsWhenDiverging trains with an absurd learning rate: Fit must
// stop with ErrDiverged at the first non-finite loss instead of running on.
func TestFitStopsWhenDiverging(t *testing.T) {
	m := smallNet(1)
	steps := 0
	res, err := Fit(context.Background(), m, blobs(300, 1), Config{Epochs: 3, BatchSize: 16, LR: 1e15, Seed: 5,
		OnStep: func(si StepInfo) {
			steps++
			if !finite(si.Loss) || !finite(si.GradNorm) {
				t.Errorf("step %d reported with loss %v, gradient norm %v", si.Step, si.Loss, si.GradNorm)
			}
		}})
	if !errors.Is(err, ErrDiverged) {
		t.Fatalf("err = %v, want ErrDiverged", err)
	}
	t.Log(err)
	if res == nil || res.Steps != steps || steps >= 3*19 {
		t.Fatalf("result %+v after %d reported steps: training did not stop at the divergence", res, steps)
	}
}

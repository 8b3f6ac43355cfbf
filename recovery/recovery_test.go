package recovery

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/prune"
	"github.com/podaml/poda/train"
)

func mnist(t *testing.T, split string, n int) data.Dataset {
	t.Helper()
	ds, err := data.LoadMNIST("", split, data.Normalize{})
	if err != nil {
		t.Fatal(err)
	}
	if n <= 0 || n >= ds.Len() {
		return ds
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sub, err := data.NewSubset(ds, idx)
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

func load(t *testing.T, name string) *graph.Model {
	t.Helper()
	m, err := graph.Load(filepath.Join("../testdata/models", name+".onnx"), onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCubic(t *testing.T) {
	if Cubic(0) != 0 || Cubic(1) != 1 || math.Abs(Cubic(0.5)-0.875) > 1e-12 {
		t.Errorf("Cubic(0, .5, 1) = %v %v %v", Cubic(0), Cubic(0.5), Cubic(1))
	}
	for x := 0.0; x < 1; x += 0.05 {
		if Cubic(x+0.05) < Cubic(x) {
			t.Fatalf("Cubic decreases at %v", x)
		}
	}
}

// TestGradualReachesTargetWithMasksLocked runs a short gradual schedule on
// LeNet-300-100 and checks the exact final sparsity, that pruning happened
// at several events, and that the pruned model still classifies MNIST.
func TestGradualReachesTargetWithMasksLocked(t *testing.T) {
	m := load(t, "lenet300")
	test := mnist(t, "test", 2000)
	opt := Options{
		Pruner:   Unstructured{prune.UnstructuredOptions{Sparsity: 0.9, Scope: prune.Global}},
		Schedule: Gradual,
		Train:    train.Config{MaxSteps: 60, BatchSize: 64, LR: 0.01, Seed: 1},
		Test:     test,
		Distill:  true,
		NewOptimizer: func() train.Optimizer {
			return &train.SGD{Momentum: 0.9}
		},
	}
	res, err := Run(context.Background(), m, mnist(t, "train", 6000), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Events) < 5 {
		t.Errorf("only %d pruning events", len(res.Events))
	}
	zeros, total := prune.Zeros(m)
	if want := int(math.Round(0.9 * float64(total))); zeros != want {
		t.Errorf("%d zeros after the schedule, want exactly %d", zeros, want)
	}
	if res.AccuracyAfter < 0.9 {
		t.Errorf("accuracy after 90%% pruning and recovery %.4f (before %.4f)", res.AccuracyAfter, res.AccuracyBefore)
	}
	t.Logf("before %.4f after %.4f, %d steps, %d events, %v", res.AccuracyBefore, res.AccuracyAfter, res.Steps, len(res.Events), res.TrainTime)
}

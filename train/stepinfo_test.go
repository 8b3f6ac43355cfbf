package train

import (
	"context"
	"testing"

	"github.com/podaml/poda/data"
)

// TestStepInfoCorrect checks the per-step accuracy Fit reports: with a
// zero learning rate the weights stay put, so the correct counts of the
// first batches (in file order) must equal Evaluate's on those examples.
func TestStepInfoCorrect(t *testing.T) {
	m, _ := fixture(t, "lenet300")
	ds := mnist(t, "train")
	const batch, steps = 64, 4
	idx := make([]int, batch*steps)
	for i := range idx {
		idx[i] = i
	}
	sub, err := data.NewSubset(ds, idx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Evaluate(context.Background(), m.Clone(), sub, batch)
	if err != nil {
		t.Fatal(err)
	}
	correct, seen := 0, 0
	_, err = Fit(context.Background(), m, sub, Config{MaxSteps: steps, BatchSize: batch, LR: 0, NoShuffle: true,
		OnStep: func(si StepInfo) {
			if si.Correct < 0 || si.Correct > si.Batch {
				t.Errorf("step %d: %d correct of %d", si.Step, si.Correct, si.Batch)
			}
			correct += si.Correct
			seen += si.Batch
		}})
	if err != nil {
		t.Fatal(err)
	}
	if got := float64(correct) / float64(seen); seen != len(idx) || got != want.Accuracy {
		t.Errorf("steps saw %d examples at accuracy %v; Evaluate says %v on %d", seen, got, want.Accuracy, want.Samples)
	}
}

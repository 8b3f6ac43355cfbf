package train

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/onnx"
)

// modelsDir holds the fixtures; PODA_TEST_MODELS overrides it.
var modelsDir = func() string {
	if d := os.Getenv("PODA_TEST_MODELS"); d != "" {
		return d
	}
	return "../testdata/models"
}()

// fixture loads testdata/models/<name>.onnx and its JSON, skipping the test
// if the fixture has not been generated.
func fixture(t testing.TB, name string) (*graph.Model, map[string]any) {
	t.Helper()
	path := filepath.Join(modelsDir, name+".onnx")
	if _, err := os.Stat(path); err != nil {
		t.Skipf("fixture %s not present (testdata/fixtures/gen_fixtures.py writes it): %v", path, err)
	}
	m, err := graph.Load(path, onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var meta map[string]any
	b, err := os.ReadFile(filepath.Join(modelsDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatal(err)
	}
	return m, meta
}

func mnist(t testing.TB, split string) *data.MNIST {
	t.Helper()
	dir, err := data.MNISTDir()
	if err != nil {
		t.Skipf("MNIST not available: %v", err)
	}
	ds, err := data.LoadMNIST(dir, split, data.MNISTNormalize)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// TestEvaluateLeNet300 checks the inference forward pass against the
// accuracy torch measured on the full MNIST test set.
func TestEvaluateLeNet300(t *testing.T) {
	m, meta := fixture(t, "lenet300")
	mt, err := Evaluate(context.Background(), m, mnist(t, "test"), 500)
	if err != nil {
		t.Fatal(err)
	}
	want := meta["test_accuracy"].(float64)
	t.Logf("lenet300: accuracy %.4f (torch %.4f), top5 %.4f, loss %.4f, %d samples in %v", mt.Accuracy, want, mt.Top5, mt.Loss, mt.Samples, mt.Wall)
	if mt.Samples != 10000 || math.Abs(mt.Accuracy-want) > 0.0002 {
		t.Errorf("accuracy %.4f on %d samples, torch %.4f", mt.Accuracy, mt.Samples, want)
	}
}

// TestSGDMatchesTorch is issue 5 §6: three plain SGD steps (lr 0.01, mean
// cross-entropy) of LeNet-5 on the first three batches of 32 MNIST training
// images in file order agree with torch's losses and final parameters.
func TestSGDMatchesTorch(t *testing.T) {
	m, _ := fixture(t, "lenet5")
	refPath := filepath.Join(modelsDir, "lenet5.sgd_ref.npz")
	if _, err := os.Stat(refPath); err != nil {
		t.Skipf("fixture %s not present: %v", refPath, err)
	}
	ref, _, err := npy.ReadNPZ(refPath)
	if err != nil {
		t.Fatal(err)
	}
	initial := weights(m)
	var losses []float64
	cfg := Config{Epochs: 1, MaxSteps: 3, BatchSize: 32, LR: 0.01, Optimizer: &SGD{}, NoShuffle: true,
		OnStep: func(s StepInfo) { losses = append(losses, s.Loss) }}
	if _, err := Fit(context.Background(), m, mnist(t, "train"), cfg); err != nil {
		t.Fatal(err)
	}
	wantLoss, err := npy.AsFloat32(ref["losses"])
	if err != nil {
		t.Fatal(err)
	}
	if len(losses) != 3 {
		t.Fatalf("%d steps", len(losses))
	}
	for i, l := range losses {
		w := float64(wantLoss.F32[i])
		rel := math.Abs(l-w) / math.Abs(w)
		t.Logf("step %d: loss %.7f, torch %.7f (rel %.2g)", i, l, w, rel)
		if rel > 1e-4 {
			t.Errorf("step %d: loss %.7f, torch %.7f", i, l, w)
		}
	}
	n := 0
	for name, rt := range ref {
		if name == "losses" {
			continue
		}
		n++
		want, err := npy.AsFloat32(rt)
		if err != nil {
			t.Fatal(err)
		}
		got := m.Graph.Initializer(name)
		if got == nil || len(got.F32) != len(want.F32) {
			t.Fatalf("parameter %q missing or resized in the model", name)
		}
		var maxDiff, maxAbs, d2, w2, u2, e2 float64
		w0 := initial[name]
		for i, w := range want.F32 {
			// the update itself: ours against torch's
			ut := float64(w) - float64(w0[i])
			uo := float64(got.F32[i]) - float64(w0[i])
			u2 += ut * ut
			e2 += (uo - ut) * (uo - ut)
			d := math.Abs(float64(got.F32[i]) - float64(w))
			maxDiff = math.Max(maxDiff, d)
			maxAbs = math.Max(maxAbs, math.Abs(float64(w)))
			d2 += d * d
			w2 += float64(w) * float64(w)
		}
		rel, relNorm, relUpd := maxDiff/maxAbs, math.Sqrt(d2/w2), math.Sqrt(e2/u2)
		t.Logf("%-14s max|Δ|/max|w| %.2g, ‖Δ‖/‖w‖ %.2g, update ‖u−u_torch‖/‖u_torch‖ %.2g", name, rel, relNorm, relUpd)
		if rel > 1e-4 {
			t.Errorf("%s: max |Δ| %.3g is %.3g of max |w|", name, maxDiff, rel)
		}
		if relUpd > 1e-2 {
			t.Errorf("%s: the 3-step update differs from torch's by %.3g (relative)", name, relUpd)
		}
	}
	if n == 0 {
		t.Error("no parameters in the reference")
	}
}

// TestFineTuneKeepsAccuracy fine-tunes the trained dense MNIST fixtures for
// one epoch (SGD 0.01, momentum 0.9, batch 128; resnet_bn, whose
// BatchNormalization trains with batch statistics, for 100 steps at 0.001) and
// requires the test accuracy to stay within 0.2 pp of the starting
// accuracy or improve.
func TestFineTuneKeepsAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("one epoch of MNIST per model; skipped with -short")
	}
	for _, c := range []struct {
		name  string
		steps int // 0: one epoch
		lr    float64
	}{{"lenet5", 0, 0.01}, {"lenet300", 0, 0.01}, {"resnet_bn", 100, 0.001}} {
		name := c.name
		t.Run(name, func(t *testing.T) {
			m, meta := fixture(t, name)
			test := mnist(t, "test")
			before, err := Evaluate(context.Background(), m, test, 500)
			if err != nil {
				t.Fatal(err)
			}
			if acc, ok := meta["test_accuracy"].(float64); ok && math.Abs(acc-before.Accuracy) > 0.0002 {
				t.Errorf("starting accuracy %.4f, torch measured %.4f", before.Accuracy, acc)
			}
			res, err := Fit(context.Background(), m, mnist(t, "train"), Config{Epochs: 1, MaxSteps: c.steps, BatchSize: 128, LR: c.lr,
				Optimizer: &SGD{Momentum: 0.9}, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			after, err := Evaluate(context.Background(), m, test, 500)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: accuracy %.4f → %.4f (loss %.4f → %.4f); epoch: %d samples in %v (%.0f samples/s), train loss %.4f",
				name, before.Accuracy, after.Accuracy, before.Loss, after.Loss, res.Samples, res.Wall,
				float64(res.Samples)/res.Wall.Seconds(), res.EpochLosses)
			if after.Accuracy < before.Accuracy-0.002 {
				t.Errorf("fine-tuning lost accuracy: %.4f → %.4f", before.Accuracy, after.Accuracy)
			}
		})
	}
}

// TestFineTunePrunedLeNet300 applies the fixture's global 90% magnitude
// mask, fine-tunes for one epoch with the mask and checks that the pruned
// weights stay exactly zero and accuracy recovers from torch's no-fine-tune
// number.
func TestFineTunePrunedLeNet300(t *testing.T) {
	if testing.Short() {
		t.Skip("one epoch of MNIST; skipped with -short")
	}
	m, meta := fixture(t, "lenet300")
	masks, _, err := npy.ReadNPZ(filepath.Join(modelsDir, "lenet300.globalmask90.npz"))
	if err != nil {
		t.Fatal(err)
	}
	for name, mt := range masks {
		w := m.Graph.Initializer(name)
		if w == nil || mt.Numel() != len(w.F32) || len(mt.Raw) != len(w.F32) {
			t.Fatalf("mask %q does not fit the model", name)
		}
		for i, keep := range mt.Raw {
			if keep == 0 {
				w.F32[i] = 0
			}
		}
	}
	cfgMasks := SparsityMasks(m)
	if len(cfgMasks) != 3 {
		t.Fatalf("SparsityMasks found %d pruned weights, want 3", len(cfgMasks))
	}
	test := mnist(t, "test")
	pruned, err := Evaluate(context.Background(), m, test, 1000)
	if err != nil {
		t.Fatal(err)
	}
	gp := meta["global_prune_90"].(map[string]any)
	if want := gp["pruned_test_accuracy_no_finetune"].(float64); math.Abs(pruned.Accuracy-want) > 0.0002 {
		t.Errorf("pruned accuracy %.4f, torch %.4f", pruned.Accuracy, want)
	}
	if _, err := Fit(context.Background(), m, mnist(t, "train"), Config{Epochs: 1, BatchSize: 128, LR: 0.01,
		Optimizer: &SGD{Momentum: 0.9, WeightDecay: 1e-4}, Seed: 2, Masks: cfgMasks}); err != nil {
		t.Fatal(err)
	}
	after, err := Evaluate(context.Background(), m, test, 1000)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("lenet300 90%% sparse: accuracy %.4f → %.4f after one masked epoch", pruned.Accuracy, after.Accuracy)
	for name, mt := range masks {
		w := m.Graph.Initializer(name).F32
		kept := 0
		for i, keep := range mt.Raw {
			if keep == 0 && w[i] != 0 {
				t.Fatalf("%s[%d] regrew to %v", name, i, w[i])
			}
			if w[i] != 0 {
				kept++
			}
		}
		if want := int(gp["kept"].(map[string]any)[name].(float64)); kept != want {
			t.Errorf("%s: %d non-zero weights, want %d", name, kept, want)
		}
	}
	if after.Accuracy < 0.975 {
		t.Errorf("accuracy %.4f after fine-tuning the 90%% sparse model", after.Accuracy)
	}
}

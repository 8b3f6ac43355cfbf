package prune

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/tensor"
)

const modelsDir = "../testdata/models"

func loadFixture(t *testing.T, name string) *graph.Model {
	t.Helper()
	m, err := graph.Load(filepath.Join(modelsDir, name+".onnx"), onnx.Limits{})
	if err != nil {
		t.Fatalf("loading fixture %s: %v", name, err)
	}
	return m
}

// fixtures lists the committed fixture models.
func fixtures(t *testing.T) []string {
	files, _ := filepath.Glob(filepath.Join(modelsDir, "*.onnx"))
	if len(files) == 0 {
		t.Fatalf("no fixtures in %s", modelsDir)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f[:len(f)-len(".onnx")]))
	}
	return names
}

// TestGlobalMagnitudeMatchesTorch checks that global magnitude pruning at
// 90% keeps exactly the weights torch.nn.utils.prune.global_unstructured
// (L1Unstructured, amount=0.9) keeps; the fixture script stored its masks.
func TestGlobalMagnitudeMatchesTorch(t *testing.T) {
	m := loadFixture(t, "lenet300")
	masks, names, err := npy.ReadNPZ(filepath.Join(modelsDir, "lenet300.globalmask90.npz"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Unstructured(m, UnstructuredOptions{Sparsity: 0.9, Scope: Global}); err != nil {
		t.Fatal(err)
	}
	if len(names) != 3 {
		t.Fatalf("mask file has %d layers, want 3", len(names))
	}
	for _, name := range names {
		w := m.Graph.Initializer(name)
		if w == nil {
			t.Fatalf("mask names %q, which the model does not have", name)
		}
		mask := masks[name]
		if mask.DType != tensor.Bool || len(mask.Raw) != len(w.F32) {
			t.Fatalf("%s: mask %v %v does not fit weight %v", name, mask.DType, mask.Shape, w.Shape)
		}
		diff, kept := 0, 0
		for i, keep := range mask.Raw {
			if keep != 0 {
				kept++
			}
			if (keep != 0) != (w.F32[i] != 0) {
				diff++
			}
		}
		if diff != 0 {
			t.Errorf("%s: %d of %d weights differ from torch's mask (torch keeps %d)", name, diff, len(w.F32), kept)
		}
	}
}

// TestExactSparsity checks, on every fixture, that layer-wise and global
// pruning reach the target within one weight per tensor.
func TestExactSparsity(t *testing.T) {
	for _, name := range fixtures(t) {
		for _, scope := range []Scope{LayerWise, Global} {
			for _, method := range []Method{Magnitude, Random} {
				m := loadFixture(t, name)
				const s = 0.73
				r, err := Unstructured(m, UnstructuredOptions{Sparsity: s, Scope: scope, Method: method, Seed: 7})
				if err != nil {
					t.Fatal(err)
				}
				total, zeros := 0, 0
				for _, tgt := range Targets(m) {
					w := m.Graph.Initializer(tgt.Tensor).F32
					z := countZeros(w)
					total += len(w)
					zeros += z
					if scope == LayerWise {
						want := int(math.Round(s * float64(len(w))))
						if z != want {
							t.Errorf("%s %v: %s has %d zeros, want %d", name, method, tgt.Tensor, z, want)
						}
					}
				}
				if scope == Global {
					want := int(math.Round(s * float64(total)))
					if zeros != want {
						t.Errorf("%s global %v: %d zeros, want %d", name, method, zeros, want)
					}
				}
				if z, n := Zeros(m); z != zeros || n != total {
					t.Errorf("%s: Zeros says %d of %d, counted %d of %d", name, z, n, zeros, total)
				}
				if r.Zeros != zeros {
					t.Errorf("%s: report says %d zeros, model has %d", name, r.Zeros, zeros)
				}
			}
		}
	}
}

// TestMagnitudeKeepsLargest checks the kept weights are the largest ones.
func TestMagnitudeKeepsLargest(t *testing.T) {
	m := loadFixture(t, "lenet5")
	orig := m.Clone()
	if _, err := Unstructured(m, UnstructuredOptions{Sparsity: 0.5}); err != nil {
		t.Fatal(err)
	}
	for _, tgt := range Targets(m) {
		before := orig.Graph.Initializer(tgt.Tensor).F32
		after := m.Graph.Initializer(tgt.Tensor).F32
		var maxPruned, minKept float32 = 0, math.MaxFloat32
		for i, v := range after {
			a := abs32(before[i])
			if v == 0 {
				maxPruned = max(maxPruned, a)
			} else {
				if v != before[i] {
					t.Fatalf("%s[%d] changed from %v to %v", tgt.Tensor, i, before[i], v)
				}
				minKept = min(minKept, a)
			}
		}
		if maxPruned > minKept {
			t.Errorf("%s: pruned |w| up to %v but kept |w| down to %v", tgt.Tensor, maxPruned, minKept)
		}
	}
}

func TestSparsityZeroIsIdentity(t *testing.T) {
	for _, name := range fixtures(t) {
		m := loadFixture(t, name)
		before, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Unstructured(m, UnstructuredOptions{Sparsity: 0, Scope: Global}); err != nil {
			t.Fatal(err)
		}
		after, _ := m.Encode()
		if !bytes.Equal(before, after) {
			t.Errorf("%s: pruning at sparsity 0 changed the model", name)
		}
	}
}

func TestRandomIsSeeded(t *testing.T) {
	run := func(seed uint64) []float32 {
		m := loadFixture(t, "lenet300")
		if _, err := Unstructured(m, UnstructuredOptions{Sparsity: 0.5, Method: Random, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		return m.Graph.Initializer(Targets(m)[0].Tensor).F32
	}
	a, b, c := run(1), run(1), run(2)
	same := func(x, y []float32) bool {
		for i := range x {
			if (x[i] == 0) != (y[i] == 0) {
				return false
			}
		}
		return true
	}
	if !same(a, b) {
		t.Error("the same seed gave different masks")
	}
	if same(a, c) {
		t.Error("different seeds gave the same mask")
	}
}

func TestExcludeAndOverride(t *testing.T) {
	m := loadFixture(t, "lenet5")
	tg := Targets(m)
	if len(tg) != 4 {
		t.Fatalf("lenet5 has %d prunable tensors, want 4", len(tg))
	}
	first, last := tg[0].Tensor, tg[len(tg)-1].Tensor
	r, err := Unstructured(m, UnstructuredOptions{Sparsity: 0.8, Scope: Global, Exclude: []string{first},
		Overrides: []Override{{Pattern: last, Sparsity: 0.25}}})
	if err != nil {
		t.Fatal(err)
	}
	if z := countZeros(m.Graph.Initializer(first).F32); z != 0 {
		t.Errorf("excluded %s has %d zeros", first, z)
	}
	w := m.Graph.Initializer(last).F32
	if z, want := countZeros(w), int(math.Round(0.25*float64(len(w)))); z != want {
		t.Errorf("overridden %s has %d zeros, want %d", last, z, want)
	}
	if r.Tensors[0].Skipped != "excluded" {
		t.Errorf("report does not say %s was excluded: %+v", first, r.Tensors[0])
	}
}

func TestBadSparsity(t *testing.T) {
	m := loadFixture(t, "lenet300")
	for _, s := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := Unstructured(m, UnstructuredOptions{Sparsity: s}); err == nil {
			t.Errorf("sparsity %v accepted", s)
		}
	}
}

package runtime

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/tensor"
)

const modelsDir = "../testdata/models"

// fixtureTol is the agreement required with torch's outputs: every element
// within |got - want| <= fixtureTol·max|want| (a tolerance relative to
// the output's scale, so that near-zero logits do not need a relative
// match).
const fixtureTol = 1e-4

// TestFixtures runs every testdata/models/<name>.onnx that has
// <name>.input.npy and <name>.output.npy and compares with the reference.
func TestFixtures(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join(modelsDir, "*.onnx"))
	if len(models) == 0 {
		t.Skip("no fixture models in", modelsDir)
	}
	for _, path := range models {
		name := strings.TrimSuffix(filepath.Base(path), ".onnx")
		in := filepath.Join(modelsDir, name+".input.npy")
		want := filepath.Join(modelsDir, name+".output.npy")
		if _, err := os.Stat(in); err != nil {
			continue
		}
		if _, err := os.Stat(want); err != nil {
			continue
		}
		t.Run(name, func(t *testing.T) {
			s, m := loadSession(t, path)
			x, err := npy.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			w, err := npy.ReadFile(want)
			if err != nil {
				t.Fatal(err)
			}
			names := s.InputNames()
			if len(names) != 1 {
				t.Skipf("%d inputs; fixtures have one", len(names))
			}
			if v := m.Graph.Value(names[0]); v != nil && v.DType != x.DType {
				if x, err = convertTo(x, v.DType); err != nil {
					t.Fatal(err)
				}
			}
			out, err := s.Run(context.Background(), map[string]*tensor.Tensor{names[0]: x})
			if err != nil {
				t.Fatal(err)
			}
			got := out[s.OutputNames()[0]]
			if !sameInts(got.Shape, w.Shape) {
				t.Fatalf("shape %v, want %v", got.Shape, w.Shape)
			}
			gf, err := floats32(got)
			if err != nil {
				t.Fatal(err)
			}
			wf, err := floats32(w)
			if err != nil {
				t.Fatal(err)
			}
			var scale, worst float64
			for _, v := range wf {
				scale = math.Max(scale, math.Abs(float64(v)))
			}
			for i := range wf {
				worst = math.Max(worst, math.Abs(float64(gf[i])-float64(wf[i])))
			}
			rel := worst / math.Max(scale, 1e-30)
			t.Logf("%s: input %v, output %v, max|diff| %.3g, max|want| %.3g, relative %.3g", name, x.Shape, got.Shape, worst, scale, rel)
			if !(rel <= fixtureTol) {
				t.Errorf("max|diff|/max|want| = %.3g > %g", rel, fixtureTol)
			}
		})
	}
}

func loadSession(tb testing.TB, path string) (*Session, *graph.Model) {
	tb.Helper()
	m, err := graph.Load(path, onnx.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(m, Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return s, m
}

func convertTo(t *tensor.Tensor, dt tensor.DType) (*tensor.Tensor, error) {
	switch dt {
	case tensor.Float:
		return npy.AsFloat32(t)
	case tensor.Int64:
		return npy.AsInt64(t)
	}
	return t, nil
}

// TestPlanMemory logs, for each fixture model at batch 1, the planned
// arena next to the total size of the intermediate values it holds, and
// checks that reuse by liveness makes the arena no larger than that total.
func TestPlanMemory(t *testing.T) {
	models, _ := filepath.Glob(filepath.Join(modelsDir, "*.onnx"))
	for _, path := range models {
		s, m := loadSession(t, path)
		if len(s.InputNames()) != 1 {
			continue
		}
		x := randomInput(t, m, s.InputNames()[0], 1)
		if _, err := s.Run(context.Background(), map[string]*tensor.Tensor{s.InputNames()[0]: x}); err != nil {
			t.Fatal(err)
		}
		p, _ := s.planFor([]*tensor.Tensor{x})
		total := 0
		for _, sl := range p.slots {
			if sl.kind == slotArena {
				total += alignUp(tensor.Prod(sl.shape)*sl.dtype.Size(), arenaAlign)
			}
		}
		t.Logf("%-14s %3d steps, arena %8d bytes for %8d bytes of intermediates (%.0f%%), scratch %d bytes",
			filepath.Base(path), len(p.steps), p.arenaBytes, total, 100*float64(p.arenaBytes)/float64(max(total, 1)), 4*p.scratch)
		if p.arenaBytes > total {
			t.Errorf("%s: arena %d > intermediates %d", path, p.arenaBytes, total)
		}
	}
}

// TestFixtureAllocs checks that a steady-state Run of each fixture model
// (batch 1, one thread, so no goroutines are started) allocates only its
// outputs: the result map, the output pointer slice, and per output its
// header, shape and data.
func TestFixtureAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	models, _ := filepath.Glob(filepath.Join(modelsDir, "*.onnx"))
	for _, path := range models {
		m, err := graph.Load(path, onnx.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(m, Options{Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.InputNames()) != 1 {
			continue
		}
		in := map[string]*tensor.Tensor{s.InputNames()[0]: randomInput(t, m, s.InputNames()[0], 1)}
		ctx := context.Background()
		if _, err := s.Run(ctx, in); err != nil {
			t.Fatal(err)
		}
		allocs := testing.AllocsPerRun(10, func() {
			if _, err := s.Run(ctx, in); err != nil {
				t.Fatal(err)
			}
		})
		if limit := float64(3 + 3*len(s.OutputNames())); allocs > limit {
			t.Errorf("%s: %.0f allocations per Run, want at most %.0f", filepath.Base(path), allocs, limit)
		}
	}
}

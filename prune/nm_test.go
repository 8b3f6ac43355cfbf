package prune

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/internal/onnxcheck"
	"github.com/podaml/poda/onnx"
)

// TestNMPattern checks on every fixture that each group of M consecutive
// weights along the reduction dimension keeps exactly its N largest.
func TestNMPattern(t *testing.T) {
	for _, pat := range [][2]int{{2, 4}, {1, 4}, {4, 8}} {
		n, mm := pat[0], pat[1]
		for _, name := range fixtures(t) {
			m := loadFixture(t, name)
			orig := m.Clone()
			r, err := NM(m, NMOptions{N: n, M: mm})
			if err != nil {
				t.Fatal(err)
			}
			for i, tgt := range Targets(m) {
				tr := r.Tensors[i]
				w := m.Graph.Initializer(tgt.Tensor)
				before := orig.Graph.Initializer(tgt.Tensor).F32
				outer, k, inner := reductionLayout(w.Shape, tgt)
				if k%mm != 0 {
					if !strings.Contains(tr.Skipped, "multiple") {
						t.Errorf("%s %s: reduction %d not a multiple of %d but not reported skipped", name, tgt.Tensor, k, mm)
					}
					continue
				}
				for o := 0; o < outer; o++ {
					for in := 0; in < inner; in++ {
						for g0 := 0; g0 < k; g0 += mm {
							kept := 0
							var minKept, maxDropped float32 = 1e30, 0
							for j := 0; j < mm; j++ {
								idx := (o*k+g0+j)*inner + in
								if w.F32[idx] != 0 {
									kept++
									minKept = min(minKept, abs32(before[idx]))
								} else {
									maxDropped = max(maxDropped, abs32(before[idx]))
								}
							}
							if kept > n || maxDropped > minKept {
								t.Fatalf("%s %s %d:%d: group at (%d,%d,%d) keeps %d, max dropped %v > min kept %v", name, tgt.Tensor, n, mm, o, g0, in, kept, maxDropped, minKept)
							}
						}
					}
				}
			}
		}
	}
}

func TestNMRejectsBadPattern(t *testing.T) {
	m := loadFixture(t, "lenet300")
	for _, p := range [][2]int{{4, 4}, {0, 4}, {3, 1}} {
		if _, err := NM(m, NMOptions{N: p[0], M: p[1]}); err == nil {
			t.Errorf("%d:%d accepted", p[0], p[1])
		}
	}
}

// TestPrunedModelsPassChecker saves every fixture after unstructured and
// N:M pruning (sparse storage) and has onnx.checker judge the files.
func TestPrunedModelsPassChecker(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, name := range fixtures(t) {
		for i, apply := range []func(m *graph.Model) error{
			func(m *graph.Model) error {
				_, err := Unstructured(m, UnstructuredOptions{Sparsity: 0.9, Scope: Global})
				return err
			},
			func(m *graph.Model) error { _, err := NM(m, NMOptions{N: 2, M: 4}); return err },
		} {
			m := loadFixture(t, name)
			if err := apply(m); err != nil {
				t.Fatal(err)
			}
			m.StoreSparse(nil)
			p := filepath.Join(dir, fmt.Sprintf("%s_%d.onnx", name, i))
			if err := m.Save(p, onnx.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			back, err := graph.Load(p, onnx.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			for _, tg := range Targets(m) {
				a, b := m.Graph.Initializer(tg.Tensor).F32, back.Graph.Initializer(tg.Tensor)
				if b == nil || !slices.Equal(a, b.F32) {
					t.Fatalf("%s: %s did not read back the same", p, tg.Tensor)
				}
			}
			paths = append(paths, p)
		}
	}
	onnxcheck.Check(t, paths...)
}

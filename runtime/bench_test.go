package runtime

import (
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/tensor"
)

// Benchmarks on the fixture models, for example:
//
//	go test ./runtime -run '^$' -bench . -benchtime 20x
//
// Each reports ns/op (wall time of one Run), samples/s (batch / wall time)
// and cpu-ns/op (process CPU time per Run, all threads: on a loaded
// machine, the steadier number).

func benchModel(b *testing.B, name string, batch int) {
	path := filepath.Join(modelsDir, name+".onnx")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("%s not present", path)
	}
	s, m := loadSession(b, path)
	in := randomInput(b, m, s.InputNames()[0], batch)
	ctx := context.Background()
	feeds := map[string]*tensor.Tensor{s.InputNames()[0]: in}
	if _, err := s.Run(ctx, feeds); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := s.Run(ctx, feeds); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

// randomInput makes a float32 input of the declared shape with dim 0 set
// to batch.
func randomInput(tb testing.TB, m *graph.Model, name string, batch int) *tensor.Tensor {
	v := m.Graph.Value(name)
	if v == nil || v.Shape == nil {
		tb.Fatalf("input %q has no declared shape", name)
	}
	shape := make([]int, len(v.Shape))
	for i, d := range v.Shape {
		switch {
		case i == 0:
			shape[i] = batch
		case d.Known():
			shape[i] = int(d.Value)
		default:
			tb.Fatalf("input %q dim %d is %v", name, i, d)
		}
	}
	t := tensor.New(shape...)
	r := rand.New(rand.NewSource(1))
	for i := range t.F32 {
		t.F32[i] = float32(r.NormFloat64())
	}
	return t
}

func BenchmarkLeNet5(b *testing.B) {
	b.Run("batch1", func(b *testing.B) { benchModel(b, "lenet5", 1) })
	b.Run("batch256", func(b *testing.B) { benchModel(b, "lenet5", 256) })
}

func BenchmarkLeNet300(b *testing.B) {
	b.Run("batch1", func(b *testing.B) { benchModel(b, "lenet300", 1) })
	b.Run("batch256", func(b *testing.B) { benchModel(b, "lenet300", 256) })
}

func BenchmarkResNet(b *testing.B) {
	b.Run("batch1", func(b *testing.B) { benchModel(b, "resnet_bnfold", 1) })
	b.Run("batch64", func(b *testing.B) { benchModel(b, "resnet_bnfold", 64) })
}

func BenchmarkResNet18(b *testing.B) { benchModel(b, "resnet18", 1) }

func BenchmarkMobileNetV2(b *testing.B) { benchModel(b, "mobilenet_v2", 1) }

func BenchmarkTransformer(b *testing.B) { benchModel(b, "transformer", 1) }

func BenchmarkMBV2Block(b *testing.B) { benchModel(b, "mbv2_block", 1) }

// TestBenchmarkHelper checks Benchmark's bookkeeping on the tiny model.
func TestBenchmarkHelper(t *testing.T) {
	s, err := New(tinyModel(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Benchmark(context.Background(), s, map[string]*tensor.Tensor{"X": tensor.New(8, 4)}, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r.Iters != 10 || r.Min > r.Median || r.Median > r.P90 || r.SamplesPerSecond <= 0 {
		t.Errorf("inconsistent result %+v", r)
	}
	// Weights: W (12) and b (3) floats (the Reshape target is not read at run
	// time: the Reshape is a view); IO: 32 + 24 floats.
	if r.WeightBytes != 15*4 || r.IOBytes != (32+24)*4 || r.PeakBytes != r.ArenaBytes+r.WeightBytes+r.IOBytes {
		t.Errorf("bytes: %+v", r)
	}
}

// BenchmarkLeNet300Pruned runs LeNet-300 with the fixture's 90% global
// mask applied, on the sparse kernels and, for comparison, dense.
func BenchmarkLeNet300Pruned(b *testing.B) {
	masks, _, err := npy.ReadNPZ(filepath.Join(modelsDir, "lenet300.globalmask90.npz"))
	if err != nil {
		b.Skip("no mask:", err)
	}
	for _, dense := range []bool{false, true} {
		for _, batch := range []int{1, 256} {
			name := "sparse"
			if dense {
				name = "dense"
			}
			b.Run(fmt.Sprintf("%s/batch%d", name, batch), func(b *testing.B) {
				m, err := graph.Load(filepath.Join(modelsDir, "lenet300.onnx"), onnx.Limits{})
				if err != nil {
					b.Fatal(err)
				}
				for name, mask := range masks {
					w := m.Graph.Initializer(strings.TrimSuffix(name, ".npy"))
					mf, err := npy.AsFloat32(mask)
					if w == nil || err != nil {
						b.Fatalf("mask %q: %v", name, err)
					}
					for j := range w.F32 {
						w.F32[j] *= mf.F32[j]
					}
				}
				s, err := New(m, Options{Dense: dense})
				if err != nil {
					b.Fatal(err)
				}
				feeds := map[string]*tensor.Tensor{s.InputNames()[0]: randomInput(b, m, s.InputNames()[0], batch)}
				ctx := context.Background()
				if _, err := s.Run(ctx, feeds); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				c0 := cpuTime()
				for i := 0; i < b.N; i++ {
					if _, err := s.Run(ctx, feeds); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(batch)*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
			})
		}
	}
}

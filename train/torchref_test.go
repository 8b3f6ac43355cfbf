package train

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/tensor"
)

// TestTrainingMatchesTorch trains the small models of testdata/torchref
// (written by gen.py there with torch 1.13: BatchNormalization in training
// mode with running statistics, grouped, depthwise, strided and dilated
// convolutions, Clip, residual Add, AveragePool, MaxPool with padding,
// Concat, ReduceMean, Sigmoid, Tanh, LeakyRelu; a transformer block with
// MatMul weights, Reshape/Transpose, Softmax attention, LayerNormalization,
// GELU, LogSoftmax) for three SGD steps (lr 0.05, momentum 0.9, weight
// decay 1e-3, mean cross-entropy) and compares the losses, the parameters
// and the running statistics with torch's.
func TestTrainingMatchesTorch(t *testing.T) {
	refs, _ := filepath.Glob("testdata/torchref/*.ref.npz")
	if len(refs) == 0 {
		t.Fatal("no reference files in testdata/torchref")
	}
	for _, ref := range refs {
		name := strings.TrimSuffix(filepath.Base(ref), ".ref.npz")
		t.Run(name, func(t *testing.T) {
			m, err := graph.Load(filepath.Join("testdata/torchref", name+".onnx"), onnx.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			want, _, err := npy.ReadNPZ(ref)
			if err != nil {
				t.Fatal(err)
			}
			x, err := npy.AsFloat32(want["x"])
			if err != nil {
				t.Fatal(err)
			}
			yt, err := npy.AsInt64(want["y"])
			if err != nil {
				t.Fatal(err)
			}
			labels := make([]int, len(yt.I64))
			for i, v := range yt.I64 {
				labels[i] = int(v)
			}
			p, err := Compile(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			opt := &SGD{Momentum: 0.9, WeightDecay: 1e-3}
			wl, _ := npy.AsFloat32(want["losses"])
			for step := 0; step < 3; step++ {
				out, err := p.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				grad := make([]float32, len(out.F32))
				loss, err := CrossEntropy(out, labels, grad)
				if err != nil {
					t.Fatal(err)
				}
				if err := p.Backward(grad); err != nil {
					t.Fatal(err)
				}
				opt.Step(p.Params(), 0.05)
				if w := float64(wl.F32[step]); math.Abs(loss-w) > 1e-5*math.Abs(w) {
					t.Errorf("step %d: loss %.7f, torch %.7f", step, loss, w)
				}
			}
			b, err := os.ReadFile(filepath.Join("testdata/torchref", name+".ref.json"))
			if err != nil {
				t.Fatal(err)
			}
			var names map[string]string
			if err := json.Unmarshal(b, &names); err != nil {
				t.Fatal(err)
			}
			var keys []string
			for k := range names {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			if len(keys) != len(m.Graph.Initializers) {
				t.Errorf("reference has %d tensors, the model %d initializers", len(keys), len(m.Graph.Initializers))
			}
			for _, k := range keys {
				init := m.Graph.Initializer(names[k])
				if init == nil {
					t.Fatalf("%s: no initializer %q", k, names[k])
				}
				w, _ := npy.AsFloat32(want[k])
				if msg := compareRel(init.F32, w); msg != "" {
					t.Errorf("%s: %s", names[k], msg)
				}
			}
		})
	}
}

// compareRel fails when max |got − want| exceeds 1e-4·max(|want|, 1e-3).
func compareRel(got []float32, want *tensor.Tensor) string {
	if len(got) != len(want.F32) {
		return fmt.Sprintf("%d values, want %d", len(got), len(want.F32))
	}
	var maxD, maxW float64
	for i, w := range want.F32 {
		maxD = math.Max(maxD, math.Abs(float64(got[i])-float64(w)))
		maxW = math.Max(maxW, math.Abs(float64(w)))
	}
	if maxD > 1e-4*math.Max(maxW, 1e-3) {
		return fmt.Sprintf("max |Δ| %.3g (max |w| %.3g)", maxD, maxW)
	}
	return ""
}

package runtime_test

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/inspect"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/prune"
	"github.com/podaml/poda/runtime"
	"github.com/podaml/poda/tensor"
)

const tuneModels = "../testdata/models"

func loadFixture(tb testing.TB, name string) *graph.Model {
	tb.Helper()
	m, err := graph.Load(filepath.Join(tuneModels, name+".onnx"), onnx.Limits{})
	if err != nil {
		tb.Skip("fixture:", err)
	}
	return m
}

// pruned loads a fixture and prunes it: structured by ratio (if > 0), then
// unstructured to sparsity with the given scope (if > 0).
func pruned(tb testing.TB, name string, ratio, sparsity float64, scope prune.Scope) *graph.Model {
	tb.Helper()
	m := loadFixture(tb, name)
	if ratio > 0 {
		if _, err := prune.Structured(context.Background(), m, prune.StructuredOptions{Ratio: ratio}); err != nil {
			tb.Fatal(err)
		}
	}
	if sparsity > 0 {
		if _, err := prune.Unstructured(m, prune.UnstructuredOptions{Sparsity: sparsity, Scope: scope}); err != nil {
			tb.Fatal(err)
		}
	}
	return m
}

// feeds makes random float32 inputs at m's declared shapes, with unknown
// dimensions set to batch.
func feeds(tb testing.TB, m *graph.Model, batch int) map[string]*tensor.Tensor {
	tb.Helper()
	r := rand.New(rand.NewPCG(3, 4))
	out := map[string]*tensor.Tensor{}
	for _, v := range m.Graph.RealInputs() {
		dims := make([]int, len(v.Shape))
		for i, d := range v.Shape {
			dims[i] = int(d.Value)
			if !d.Known() {
				dims[i] = batch
			}
		}
		t := tensor.New(dims...)
		for i := range t.F32 {
			t.F32[i] = float32(r.NormFloat64())
		}
		out[v.Name] = t
	}
	return out
}

func session(tb testing.TB, m *graph.Model, opt runtime.Options) *runtime.Session {
	tb.Helper()
	s, err := runtime.New(m, opt)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func run(tb testing.TB, s *runtime.Session, in map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	tb.Helper()
	out, err := s.Run(context.Background(), in)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// sameOutputs checks every output of got against want within tol relative
// to the output's largest magnitude.
func sameOutputs(t *testing.T, got, want map[string]*tensor.Tensor, tol float64) {
	t.Helper()
	for name, w := range want {
		g := got[name]
		if g == nil || len(g.F32) != len(w.F32) {
			t.Fatalf("output %s: missing or wrong size", name)
		}
		var scale, worst float64
		for i := range w.F32 {
			scale = math.Max(scale, math.Abs(float64(w.F32[i])))
			worst = math.Max(worst, math.Abs(float64(g.F32[i]-w.F32[i])))
		}
		if worst > tol*math.Max(scale, 1e-30) {
			t.Errorf("output %s: max difference %g, %g relative to max |want| %g", name, worst, worst/scale, scale)
		}
	}
}

func TestTunePrunedLeNet300(t *testing.T) {
	m := pruned(t, "lenet300", 0, 0.95, prune.Global)
	for _, batch := range []int{1, 64} {
		in := feeds(t, m, batch)
		s := session(t, m, runtime.Options{Tune: true})
		got := run(t, s, in)
		want := run(t, session(t, m, runtime.Options{Dense: true}), in)
		sameOutputs(t, got, want, 1e-5)
		layers := s.LayerFormats()
		if len(layers) != 3 {
			t.Fatalf("batch %d: %d layers reported, want 3: %+v", batch, len(layers), layers)
		}
		for _, l := range layers {
			t.Logf("batch %d: %s %s %s dense %.0f ns, chosen %.0f ns, %.2f×", batch, l.Node, l.Op, l.Format, l.DenseNs, l.ChosenNs, l.Speedup)
			if l.DenseNs <= 0 || l.ChosenNs <= 0 {
				t.Errorf("%s: not measured: %+v", l.Node, l)
			}
			if l.ChosenNs > l.DenseNs {
				t.Errorf("%s: chose %s at %.0f ns, slower than dense %.0f ns", l.Node, l.Format, l.ChosenNs, l.DenseNs)
			}
			if l.Node == "/fc1/Gemm" && l.Format == "dense" {
				t.Errorf("batch %d: fc1 at 95%% sparsity stayed dense (%+v)", batch, l)
			}
		}
		// Forcing the chosen formats gives the same plan.
		formats := map[string]string{}
		for _, l := range layers {
			formats[l.Node] = l.Format
		}
		s2 := session(t, m, runtime.Options{Formats: formats})
		sameOutputs(t, run(t, s2, in), want, 1e-5)
		for i, l := range s2.LayerFormats() {
			if l.Format != layers[i].Format {
				t.Errorf("forced %s to %s, ran %s", l.Node, layers[i].Format, l.Format)
			}
		}
	}
}

func TestTuneDenseModelStaysDense(t *testing.T) {
	m := loadFixture(t, "lenet300")
	s := session(t, m, runtime.Options{Tune: true})
	run(t, s, feeds(t, m, 1))
	for _, l := range s.LayerFormats() {
		if l.Format != "dense" {
			t.Errorf("unpruned %s runs %s", l.Node, l.Format)
		}
	}
}

func TestFormatsForced(t *testing.T) {
	m := pruned(t, "lenet300", 0, 0.9, prune.LayerWise)
	in := feeds(t, m, 3)
	want := run(t, session(t, m, runtime.Options{Dense: true}), in)
	for _, f := range []string{"dense", "csr", "bsr8", "bsr1x8", "nm2:4"} {
		s := session(t, m, runtime.Options{Formats: map[string]string{"/fc1/Gemm": f, "/fc2/Gemm": f, "/fc3/Gemm": f}})
		sameOutputs(t, run(t, s, in), want, 1e-5)
		for _, l := range s.LayerFormats() {
			wantF := f
			switch f {
			case "bsr8":
				wantF = "bsr1x8"
			case "nm2:4":
				wantF = "dense" // 90% unstructured has no 2:4 structure
			}
			if l.Format != wantF {
				t.Errorf("forced %s: %s runs %s", f, l.Node, l.Format)
			}
		}
	}
}

func TestTuningFile(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	body := []byte("model bytes")
	if err := os.WriteFile(model, body, 0o644); err != nil {
		t.Fatal(err)
	}
	path := runtime.TuningPath(model)
	if f, err := runtime.LoadTuning(path, body, 1); err != nil || f != nil {
		t.Fatalf("no file: %v, %v", f, err)
	}
	l1 := []runtime.LayerFormat{{Node: "a", Op: "Gemm", Format: "csr", DenseNs: 10, ChosenNs: 5, Speedup: 2}, {Node: "b", Op: "Conv", Format: "dense", Speedup: 1}}
	l64 := []runtime.LayerFormat{{Node: "a", Op: "Gemm", Format: "nm2:4", Speedup: 1.5}}
	if err := runtime.SaveTuning(path, body, 1, 2, l1); err != nil {
		t.Fatal(err)
	}
	if err := runtime.SaveTuning(path, body, 64, 2, l64); err != nil {
		t.Fatal(err)
	}
	f1, err := runtime.LoadTuning(path, body, 1)
	if err != nil || f1["a"] != "csr" || f1["b"] != "dense" || len(f1) != 2 {
		t.Fatalf("batch 1: %v, %v", f1, err)
	}
	f64, err := runtime.LoadTuning(path, body, 64)
	if err != nil || f64["a"] != "nm2:4" || len(f64) != 1 {
		t.Fatalf("batch 64: %v, %v", f64, err)
	}
	if f, err := runtime.LoadTuning(path, body, 8); err != nil || f != nil {
		t.Fatalf("batch 8 (not tuned): %v, %v", f, err)
	}
	if f, err := runtime.LoadTuning(path, []byte("model bytes, changed"), 1); err != nil || f != nil {
		t.Fatalf("changed model: %v, %v", f, err)
	}
	// Saving for a changed model starts afresh.
	if err := runtime.SaveTuning(path, []byte("other"), 1, 2, l64); err != nil {
		t.Fatal(err)
	}
	if f, _ := runtime.LoadTuning(path, body, 64); f != nil {
		t.Fatalf("entry of the old model kept: %v", f)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runtime.LoadTuning(path, body, 1); err == nil {
		t.Fatal("corrupt file: no error")
	}
}

// TestStructuredPlusSparse prunes LeNet-5 by channels, then 90% of the
// remaining weights, and checks that it runs on the sparse kernels, agrees
// with dense kernels and needs fewer MACs than the original.
func TestStructuredPlusSparse(t *testing.T) {
	orig := loadFixture(t, "lenet5")
	m := pruned(t, "lenet5", 0.5, 0.9, prune.LayerWise)
	ri, err := inspect.Model(orig, inspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rp, err := inspect.Model(m, inspect.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rp.MACs >= ri.MACs {
		t.Errorf("structured pruning left %d MACs of %d", rp.MACs, ri.MACs)
	}
	for _, tune := range []bool{false, true} {
		in := feeds(t, m, 2)
		s := session(t, m, runtime.Options{Tune: tune})
		sameOutputs(t, run(t, s, in), run(t, session(t, m, runtime.Options{Dense: true}), in), 1e-5)
		sparse := 0
		for _, l := range s.LayerFormats() {
			if l.Format != "dense" {
				sparse++
			}
			if tune && l.ChosenNs > l.DenseNs {
				t.Errorf("%s slower than dense: %+v", l.Node, l)
			}
		}
		if !tune && sparse == 0 {
			t.Errorf("no layer of the structured+sparse model runs sparse: %+v", s.LayerFormats())
		}
		t.Logf("tune %v: MACs %d → %d; %+v", tune, ri.MACs, rp.MACs, s.LayerFormats())
	}
}

// speedupBench times the reference and the candidate session alternately
// on the same inputs, b.N runs each, and reports the ratio of their median
// run times as "speedup" (with both medians in µs).
func speedupBench(b *testing.B, ref, cand *runtime.Session, in map[string]*tensor.Tensor) {
	for _, s := range []*runtime.Session{ref, cand} {
		for i := 0; i < 3; i++ {
			run(b, s, in)
		}
	}
	rt := make([]time.Duration, 0, b.N)
	ct := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := ref.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := cand.Run(ctx, in); err != nil {
			b.Fatal(err)
		}
		rt = append(rt, t1.Sub(t0))
		ct = append(ct, time.Since(t1))
	}
	b.StopTimer()
	med := func(d []time.Duration) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[len(d)/2]) / 1e3
	}
	r, c := med(rt), med(ct)
	b.ReportMetric(r, "ref-µs")
	b.ReportMetric(c, "µs")
	b.ReportMetric(r/c, "speedup")
}

// BenchmarkSparseModel: whole models pruned as the targets say, in
// tuned sparse formats, against dense kernels on the same pruned weights.
func BenchmarkSparseModel(b *testing.B) {
	cases := []struct {
		name     string
		model    string
		sparsity float64
		batch    int
	}{
		{"lenet300-95-b1", "lenet300", 0.95, 1},
		{"lenet300-95-b64", "lenet300", 0.95, 64},
		{"lenet5-90-b1", "lenet5", 0.90, 1},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			m := pruned(b, c.model, 0, c.sparsity, prune.Global)
			in := feeds(b, m, c.batch)
			speedupBench(b, session(b, m, runtime.Options{Dense: true}), session(b, m, runtime.Options{Tune: true}), in)
		})
	}
}

// BenchmarkNM24: the fixtures' Gemm layers (the whole model, whose Convs
// stay dense) pruned 2:4, on the 2:4 kernel against dense kernels.
func BenchmarkNM24(b *testing.B) {
	for _, c := range []struct {
		model string
		batch int
	}{{"lenet300", 1}, {"lenet300", 64}, {"lenet5", 1}} {
		b.Run(c.model+"-b"+itoa(c.batch), func(b *testing.B) {
			m := loadFixture(b, c.model)
			if _, err := prune.NM(m, prune.NMOptions{N: 2, M: 4, Exclude: []string{"Conv"}}); err != nil {
				b.Fatal(err)
			}
			formats := map[string]string{}
			for _, n := range m.Graph.Nodes {
				if n.OpType == "Gemm" {
					formats[n.Name] = "nm2:4"
				}
			}
			in := feeds(b, m, c.batch)
			speedupBench(b, session(b, m, runtime.Options{Dense: true}), session(b, m, runtime.Options{Formats: formats}), in)
		})
	}
}

// BenchmarkNM24Layers: each Gemm of the fixtures pruned 2:4, alone (with
// its bias, and the Relu that follows it fused in), on the 2:4 kernel
// against dense kernels: the per-layer view of BenchmarkNM24.
func BenchmarkNM24Layers(b *testing.B) {
	for _, model := range []string{"lenet300", "lenet5"} {
		m := loadFixture(b, model)
		if _, err := prune.NM(m, prune.NMOptions{N: 2, M: 4, Exclude: []string{"Conv"}}); err != nil {
			b.Fatal(err)
		}
		for _, n := range m.Graph.Nodes {
			if n.OpType != "Gemm" {
				continue
			}
			layer := gemmLayer(b, m, n)
			for _, batch := range []int{1, 64} {
				b.Run(model+n.Name+"-b"+itoa(batch), func(b *testing.B) {
					in := feeds(b, layer, batch)
					speedupBench(b, session(b, layer, runtime.Options{Dense: true}),
						session(b, layer, runtime.Options{Formats: map[string]string{n.Name: "nm2:4"}}), in)
				})
			}
		}
	}
}

// gemmLayer returns a model of the Gemm node n of m alone, on a [batch,
// K] input, with the Relu that reads its output if there is one.
func gemmLayer(tb testing.TB, m *graph.Model, n *graph.Node) *graph.Model {
	tb.Helper()
	w := m.Graph.Initializer(n.Inputs[1])
	k := w.Shape[1]
	if n.Int("transB", 0) == 0 {
		k = w.Shape[0]
	}
	g := &graph.Graph{Inputs: []*graph.Value{{Name: "x", DType: tensor.Float, Shape: graph.Shape{{Param: "batch"}, {Value: int64(k)}}}}}
	node := &graph.Node{Name: n.Name, OpType: "Gemm", Inputs: append([]string{"x"}, n.Inputs[1:]...), Outputs: []string{"y"}, Attrs: n.Attrs}
	g.Nodes = []*graph.Node{node}
	for _, name := range n.Inputs[1:] {
		g.AddInitializer(name, &m.Graph.Initializer(name).Tensor)
	}
	for _, r := range m.Graph.Nodes {
		if r.OpType == "Relu" && r.Inputs[0] == n.Outputs[0] {
			node.Outputs = []string{"g"}
			g.Nodes = append(g.Nodes, &graph.Node{OpType: "Relu", Inputs: []string{"g"}, Outputs: []string{"y"}})
		}
	}
	g.Outputs = []*graph.Value{{Name: "y", DType: tensor.Float}}
	return &graph.Model{Graph: g, Opsets: m.Opsets}
}

// BenchmarkStructuredPlusSparse: LeNet-5 at batch 1 as is, pruned 50% by
// channels, and pruned 50% by channels then 90% of the rest (tuned), each
// against the original model on dense kernels.
func BenchmarkStructuredPlusSparse(b *testing.B) {
	orig := loadFixture(b, "lenet5")
	in := feeds(b, orig, 1)
	for _, c := range []struct {
		name            string
		ratio, sparsity float64
	}{{"original", 0, 0}, {"structured", 0.5, 0}, {"structured+sparse", 0.5, 0.9}} {
		b.Run(c.name, func(b *testing.B) {
			m := pruned(b, "lenet5", c.ratio, c.sparsity, prune.LayerWise)
			speedupBench(b, session(b, orig, runtime.Options{Dense: true}), session(b, m, runtime.Options{Tune: true}), in)
		})
	}
}

func itoa(n int) string {
	if n < 10 {
		return string(rune('0' + n))
	}
	return itoa(n/10) + string(rune('0'+n%10))
}

// TestTuneConvFixture tunes a pruned MobileNetV2 block (pointwise,
// depthwise and BN-folded convolutions) and checks the outputs and the
// report.
func TestTuneConvFixture(t *testing.T) {
	m := pruned(t, "mbv2_block", 0, 0.9, prune.LayerWise)
	for _, batch := range []int{1, 4} {
		in := feeds(t, m, batch)
		s := session(t, m, runtime.Options{Tune: true})
		sameOutputs(t, run(t, s, in), run(t, session(t, m, runtime.Options{Dense: true}), in), 1e-5)
		if len(s.LayerFormats()) == 0 {
			t.Fatal("no layers reported")
		}
		for _, l := range s.LayerFormats() {
			if l.Format == "" || l.Speedup < 1 {
				t.Errorf("batch %d: %+v", batch, l)
			}
		}
	}
}

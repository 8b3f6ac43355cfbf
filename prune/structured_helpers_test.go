package prune

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/runtime"
	"github.com/podaml/poda/tensor"
	"github.com/podaml/poda/train"
)

// structuredFixture loads testdata/models/<name>.onnx and its reference
// input (also looked up in the directories of $PODA_FIXTURES, a path
// list), or skips.
func structuredFixture(t *testing.T, name string) (*graph.Model, *tensor.Tensor) {
	t.Helper()
	dirs := []string{filepath.Join("..", "testdata", "models")}
	dirs = append(dirs, filepath.SplitList(os.Getenv("PODA_FIXTURES"))...)
	for _, d := range dirs {
		p := filepath.Join(d, name+".onnx")
		if _, err := os.Stat(p); err != nil {
			continue
		}
		m, err := graph.Load(p, onnx.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		x, err := npy.ReadFile(filepath.Join(d, name+".input.npy"))
		if err != nil {
			t.Fatal(err)
		}
		return m, x
	}
	t.Skipf("fixture %s not present", name)
	return nil, nil
}

// runStructured runs m on x with Poda's runtime. While the runtime lacks
// an op the model needs, it falls back to the training package's forward
// pass (inference mode), and skips when neither runs the model.
func runStructured(t *testing.T, m *graph.Model, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	s, err := runtime.New(m, runtime.Options{})
	var ue *runtime.UnsupportedError
	if errors.As(err, &ue) {
		t.Logf("runtime: %v; using the training forward pass", err)
		p, terr := train.Compile(m, train.Options{})
		if terr != nil {
			t.Skipf("runtime: %v; train: %v", err, terr)
		}
		y, terr := p.Forward(x, false)
		if terr != nil {
			t.Fatalf("train forward: %v", terr)
		}
		return y.Clone()
	}
	if err != nil {
		t.Fatal(err)
	}
	in := m.Graph.RealInputs()
	out, err := s.Run(context.Background(), map[string]*tensor.Tensor{in[0].Name: x})
	if errors.As(err, &ue) {
		t.Skipf("runtime: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out[m.Graph.Outputs[0].Name]
}

// relDiff is max|a−b| / max|a|.
func relDiff(a, b *tensor.Tensor) float64 {
	if len(a.F32) != len(b.F32) {
		return math.Inf(1)
	}
	var d, s float64
	for i := range a.F32 {
		d = max(d, math.Abs(float64(a.F32[i])-float64(b.F32[i])))
		s = max(s, math.Abs(float64(a.F32[i])))
	}
	if s == 0 {
		return d
	}
	return d / s
}

// onnxCheck runs onnx.checker (full_check) on m when Debian's python3 has
// onnx; it skips nothing else.
func onnxCheck(t *testing.T, m *graph.Model) {
	t.Helper()
	if testing.Short() && floatParams(m) > 3_000_000 {
		t.Log("onnx.checker not run on a large model with -short")
		return
	}
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import onnx").Run(); err != nil {
		t.Log("onnx.checker not run: python3-onnx missing")
		return
	}
	p := filepath.Join(t.TempDir(), "m.onnx")
	if err := m.Save(p, onnx.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", "import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)", p).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker: %v\n%s", err, out)
	}
}

// structuredMACs counts multiply-accumulates for batch 1 from inferred
// shapes: Conv = H_out·W_out·C_out·(C_in/group)·k_h·k_w, Gemm and MatMul
// with a weight operand = rows·K·N, MatMul of two activations likewise.
func structuredMACs(t *testing.T, m *graph.Model) int64 {
	t.Helper()
	over := map[string]graph.Shape{}
	for _, v := range m.Graph.RealInputs() {
		sh := append(graph.Shape(nil), v.Shape...)
		if len(sh) > 0 {
			sh[0] = graph.Size(1)
		}
		over[v.Name] = sh
	}
	shapes, err := graph.InferShapes(m, over)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	prod := func(s graph.Shape) int64 {
		d, ok := s.Ints()
		if !ok {
			t.Fatalf("unknown shape %v", s)
		}
		return int64(tensor.Prod(d))
	}
	for _, n := range m.Graph.Nodes {
		switch n.OpType {
		case "Conv":
			w := shapes.Shape(n.Input(1))
			total += prod(shapes.Shape(n.Outputs[0])) * prod(w[1:])
		case "Gemm", "MatMul":
			a := shapes.Shape(n.Input(0))
			total += prod(shapes.Shape(n.Outputs[0])) * prod(a[len(a)-1:])
		}
	}
	return total
}

package inspect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
)

const modelsDir = "../testdata/models"

type fixtureMeta struct {
	TorchParams     int64 `json:"torch_params"`
	ONNXFloatParams int64 `json:"onnx_float_params"`
	// InitializerMap relates torch's parameters to ONNX initializers;
	// "identity_alias" marks a parameter the exporter merged into another
	// equal one (read through an Identity node), which the file holds once.
	InitializerMap map[string]struct {
		ONNX     string `json:"onnx"`
		Relation string `json:"relation"`
	} `json:"initializer_map"`
}

func load(t *testing.T, name string) (*graph.Model, fixtureMeta) {
	t.Helper()
	m, err := graph.Load(filepath.Join(modelsDir, name+".onnx"), onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	var meta fixtureMeta
	data, err := os.ReadFile(filepath.Join(modelsDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &meta); err != nil {
		t.Fatal(err)
	}
	return m, meta
}

// TestParamsMatchTorch checks the parameter count of every fixture against
// the count torch reported at export. Where the exporter folded BatchNorm
// into the convolutions, the ONNX file holds fewer floats than torch's
// module (the BN scales are multiplied into the weights); the fixture
// records both and the folded count is the one to match.
func TestParamsMatchTorch(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(modelsDir, "*.onnx"))
	if len(files) == 0 {
		t.Fatal("no fixtures")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".onnx")
		m, meta := load(t, name)
		r, err := Model(m, Options{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		want := meta.TorchParams
		for _, e := range meta.InitializerMap {
			if e.Relation == "identity_alias" {
				want -= int64(m.Graph.Initializer(e.ONNX).Numel())
			}
		}
		if meta.ONNXFloatParams != 0 && meta.ONNXFloatParams != meta.TorchParams && !hasBN(m) {
			// BatchNorm folded into the convolutions at export.
			want = meta.ONNXFloatParams
		}
		if r.Params != want {
			t.Errorf("%s: %d params, torch says %d (onnx floats %d)", name, r.Params, meta.TorchParams, meta.ONNXFloatParams)
		}
	}
}

func hasBN(m *graph.Model) bool {
	for _, n := range m.Graph.Nodes {
		if n.OpType == "BatchNormalization" {
			return true
		}
	}
	return false
}

// TestLeNetMACs checks MACs against the formulas worked by hand for the
// two LeNets: Conv = out_h·out_w·C_out·(C_in/groups)·k_h·k_w, Gemm = K·N.
func TestLeNetMACs(t *testing.T) {
	cases := map[string][]int64{
		"lenet300": {784 * 300, 300 * 100, 100 * 10},
		// conv1 20@5x5 on 28x28 → 24x24; pool → 12x12; conv2 50@5x5 → 8x8; pool → 4x4.
		"lenet5": {24 * 24 * 20 * 1 * 25, 8 * 8 * 50 * 20 * 25, 800 * 500, 500 * 10},
	}
	for name, want := range cases {
		m, _ := load(t, name)
		r, err := Model(m, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Layers) != len(want) {
			t.Fatalf("%s: %d layers, want %d", name, len(r.Layers), len(want))
		}
		var total int64
		for i, l := range r.Layers {
			if l.MACs != want[i] {
				t.Errorf("%s layer %s: %d MACs, want %d", name, l.Name, l.MACs, want[i])
			}
			total += want[i]
		}
		if r.MACs != total {
			t.Errorf("%s: total %d MACs, want %d", name, r.MACs, total)
		}
		if r.ZeroFraction != 0 {
			t.Errorf("%s: dense model reports %v zeros", name, r.ZeroFraction)
		}
	}
}

// TestInputShapeOverride checks that MACs are per sample (a batch of 8
// changes nothing) and that an input shape the model cannot take is an
// error naming the node where shapes stop agreeing.
func TestInputShapeOverride(t *testing.T) {
	m, _ := load(t, "lenet5")
	base, err := Model(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := Model(m, Options{InputShapes: map[string][]int{"input": {8, 1, 28, 28}}})
	if err != nil {
		t.Fatal(err)
	}
	if r.MACs != base.MACs {
		t.Errorf("batch 8: %d MACs per sample, batch 1: %d", r.MACs, base.MACs)
	}
	_, err = Model(m, Options{InputShapes: map[string][]int{"input": {1, 1, 32, 32}}})
	if err == nil || !strings.Contains(err.Error(), "Gemm") {
		t.Errorf("32x32 input into a 28x28 LeNet: got %v, want an error naming the Gemm", err)
	}
}

// TestUnknownShapesAreNoted checks that a layer whose MACs need an unknown
// shape gets a note instead of a silent zero.
func TestUnknownShapesAreNoted(t *testing.T) {
	m, _ := load(t, "lenet5")
	m.Graph.RealInputs()[0].Shape = nil
	r, err := Model(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(r.Notes, "\n")
	if !strings.Contains(notes, "/conv1/Conv") || !strings.Contains(notes, "/conv2/Conv") {
		t.Errorf("want notes for both convs, got %q", r.Notes)
	}
	// The Gemms' K·N needs no input shape; the convs' MACs are not guessed.
	if want := int64(800*500 + 500*10); r.Params == 0 || r.MACs != want {
		t.Errorf("params %d, MACs %d: want params counted and %d MACs", r.Params, r.MACs, want)
	}
}

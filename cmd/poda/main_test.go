package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/internal/onnxcheck"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/prune"
)

func podaCmd(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(context.Background(), args, &o, &e)
	return o.String(), e.String(), code
}

func TestInterspersedFlags(t *testing.T) {
	for _, args := range [][]string{
		{"MODEL", "-o", "OUT", "--sparsity", "0.9"},
		{"-o", "OUT", "MODEL", "--sparsity", "0.9"},
		{"--sparsity=0.9", "-o", "OUT", "MODEL"},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		out := fs.String("o", "", "")
		s := fs.Float64("sparsity", 0, "")
		pos, err := parseInterspersed(fs, args)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(pos, []string{"MODEL"}) || *out != "OUT" || *s != 0.9 {
			t.Errorf("%v: got pos %v, -o %q, --sparsity %v", args, pos, *out, *s)
		}
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.Bool("json", false, "")
	pos, err := parseInterspersed(fs, []string{"a", "--", "--json", "b"})
	if err != nil || !reflect.DeepEqual(pos, []string{"a", "--json", "b"}) {
		t.Errorf("after --: got %v, %v", pos, err)
	}
}

func TestExitCodes(t *testing.T) {
	if _, e, code := podaCmd(t, "nonsense"); code != 2 || !strings.Contains(e, "unknown command") {
		t.Errorf("unknown command: code %d, stderr %q", code, e)
	}
	if o, _, code := podaCmd(t, "inspect", "--help"); code != 0 || !strings.Contains(o, "--json") {
		t.Errorf("inspect --help: code %d, stdout %q", code, o)
	}
	if _, e, code := podaCmd(t, "inspect", "/nonexistent/model.onnx"); code != 1 || !strings.Contains(e, "/nonexistent/model.onnx") {
		t.Errorf("missing model: code %d, stderr %q", code, e)
	}
	if _, e, code := podaCmd(t, "prune", "../../testdata/models/lenet5.onnx"); code != 2 || !strings.Contains(e, "-o OUT") {
		t.Errorf("prune without -o: code %d, stderr %q", code, e)
	}
	if _, e, code := podaCmd(t, "inspect", "--bogus", "x"); code != 2 || !strings.Contains(e, "bogus") {
		t.Errorf("bad flag: code %d, stderr %q", code, e)
	}
}

func TestInspectJSON(t *testing.T) {
	o, e, code := podaCmd(t, "inspect", "../../testdata/models/lenet5.onnx", "--json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	var r struct {
		Params       int64            `json:"params"`
		MACs         int64            `json:"macs"`
		Bytes        int64            `json:"bytes"`
		ZeroFraction *float64         `json:"zero_fraction"`
		Layers       []map[string]any `json:"layers"`
	}
	if err := json.Unmarshal([]byte(o), &r); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, o)
	}
	if r.Params == 0 || r.MACs == 0 || r.Bytes == 0 || r.ZeroFraction == nil || len(r.Layers) != 4 {
		t.Errorf("incomplete report: %+v", r)
	}
}

func TestPruneWritesValidModel(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "pruned.onnx")
	o, e, code := podaCmd(t, "prune", "../../testdata/models/lenet300.onnx", "-o", out, "--sparsity", "0.9", "--scope", "global", "--json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	var res struct {
		Stages []struct {
			Reports []struct {
				Sparsity float64 `json:"sparsity"`
			} `json:"reports"`
		} `json:"stages"`
	}
	if err := json.Unmarshal([]byte(o), &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Stages) != 1 || len(res.Stages[0].Reports) != 1 {
		t.Fatalf("want one stage with one report: %s", o)
	}
	if got := res.Stages[0].Reports[0].Sparsity; got < 0.8999 || got > 0.9001 {
		t.Errorf("sparsity %v, want 0.9", got)
	}
	m, err := graph.Load(out, onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	zeros, total := prune.Zeros(m)
	for _, tg := range prune.Targets(m) {
		w := m.Graph.Initializer(tg.Tensor)
		if sparse := graph.SparseBytes(&w.Tensor) < w.Bytes(); sparse != (w.Storage == graph.SparseConstant) {
			t.Errorf("%s: stored sparse %v, but sparse storage smaller is %v", tg.Tensor, w.Storage == graph.SparseConstant, sparse)
		}
	}
	if want := int(math.Round(0.9 * float64(total))); zeros != want {
		t.Errorf("written model has %d zeros, want %d", zeros, want)
	}
	onnxcheck.Check(t, out)
	// Refuses to overwrite its input.
	in := filepath.Join(dir, "in.onnx")
	data, _ := os.ReadFile("../../testdata/models/lenet300.onnx")
	os.WriteFile(in, data, 0o644)
	if _, e, code := podaCmd(t, "prune", in, "-o", in, "--sparsity", "0.5"); code == 0 || !strings.Contains(e, "refusing to overwrite") {
		t.Errorf("overwrote its input: code %d, %s", code, e)
	}
	after, _ := os.ReadFile(in)
	if !bytes.Equal(after, data) {
		t.Error("input model was modified")
	}
}

// TestDemo runs the README's main command on a tiny budget: it must
// evaluate the embedded LeNet-5 on the 10,000 MNIST test images, prune it
// to the exact target while training, and write a model onnx.checker
// accepts.
func TestDemo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo.onnx")
	o, e, code := podaCmd(t, "demo", "-o", out, "--epochs", "0.05", "--sparsity", "0.9", "--json")
	if code != 0 {
		t.Fatalf("code %d: %s", code, e)
	}
	var res struct {
		AccuracyBefore float64 `json:"accuracy_before"`
		AccuracyAfter  float64 `json:"accuracy_after"`
		Compare        struct {
			After struct {
				ZeroFraction float64 `json:"zero_fraction"`
			} `json:"after"`
		} `json:"compare"`
	}
	if err := json.Unmarshal([]byte(o), &res); err != nil {
		t.Fatalf("%v\n%s", err, o)
	}
	// The fixture script measured 99.34% in torch on the same images.
	if math.Abs(res.AccuracyBefore-0.9934) > 0.0005 {
		t.Errorf("dense accuracy %.4f, torch measured 0.9934", res.AccuracyBefore)
	}
	if res.AccuracyAfter < 0.9 {
		t.Errorf("accuracy after pruning to 90%% %.4f", res.AccuracyAfter)
	}
	m, err := graph.Load(out, onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	zeros, total := prune.Zeros(m)
	if want := int(math.Round(0.9 * float64(total))); zeros != want {
		t.Errorf("demo model has %d zeros in its weights, want %d", zeros, want)
	}
	onnxcheck.Check(t, out)
}

// TestPruneIsDeterministic checks that the same inputs and seed give
// byte-identical models, fine-tuning and distillation included.
func TestPruneIsDeterministic(t *testing.T) {
	dir := t.TempDir()
	var files [][]byte
	for i := 0; i < 2; i++ {
		out := filepath.Join(dir, fmt.Sprintf("p%d.onnx", i))
		if _, e, code := podaCmd(t, "prune", "../../testdata/models/lenet300.onnx", "-o", out, "--sparsity", "0.9", "--scope", "global",
			"--data", "mnist", "--epochs", "0.03", "--distill", "--latency=false", "--json"); code != 0 {
			t.Fatalf("code %d: %s", code, e)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("two runs with the same seed wrote different models")
	}
}

// TestDivergedTrainingWritesNothing fine-tunes with an absurd learning rate:
// poda must stop with a clear error and a hint, exit 1, and not write -o.
func TestDivergedTrainingWritesNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.onnx")
	_, e, code := podaCmd(t, "finetune", "../../testdata/models/lenet300.onnx", "-o", out,
		"--data", "mnist", "--limit", "512", "--epochs", "1", "--lr", "1e15")
	if code != 1 || !strings.Contains(e, "diverged") || !strings.Contains(e, "--lr") {
		t.Errorf("code %d, stderr %q", code, e)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s was written (stat: %v)", out, err)
	}
}

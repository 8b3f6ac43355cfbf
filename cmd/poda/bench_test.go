package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// TestBenchTune: --tune measures, reports per-layer formats and writes the
// tuning file; a later bench uses it, and a changed model ignores it.
func TestBenchTune(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "p.onnx")
	if _, e, code := podaCmd(t, "prune", "../../testdata/models/lenet300.onnx", "-o", model, "--sparsity", "0.95", "--scope", "global"); code != 0 {
		t.Fatalf("prune: %s", e)
	}
	var r benchResult
	bench := func(args ...string) {
		t.Helper()
		o, e, code := podaCmd(t, append([]string{"bench", model, "--runs", "5", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("bench %v: %s", args, e)
		}
		r = benchResult{}
		if err := json.Unmarshal([]byte(o), &r); err != nil {
			t.Fatal(err, o)
		}
	}
	bench("--tune")
	if r.Tuning != "tuned" || len(r.Layers) != 3 {
		t.Fatalf("--tune: %+v", r)
	}
	tuned := map[string]string{}
	for _, l := range r.Layers {
		if l.Speedup < 1 {
			t.Errorf("%s chosen slower than dense: %+v", l.Node, l)
		}
		tuned[l.Node] = l.Format
	}
	if tuned["/fc1/Gemm"] == "dense" {
		t.Errorf("fc1 at 95%% stayed dense: %+v", r.Layers)
	}
	if _, err := os.Stat(model + ".poda-tune.json"); err != nil {
		t.Fatal(err)
	}
	bench()
	if r.Tuning != "cached" {
		t.Fatalf("after --tune: tuning %q", r.Tuning)
	}
	for _, l := range r.Layers {
		if l.Format != tuned[l.Node] {
			t.Errorf("%s runs %s, tuned %s", l.Node, l.Format, tuned[l.Node])
		}
	}
	// poda run picks the file up for a batch-1 input.
	x := tensor.New(1, 1, 28, 28)
	for i := range x.F32 {
		x.F32[i] = float32(i%7) / 7
	}
	xp := filepath.Join(dir, "x.npy")
	if err := npy.WriteFile(xp, x); err != nil {
		t.Fatal(err)
	}
	if _, e, code := podaCmd(t, "run", model, "--input", "input="+xp, "-o", filepath.Join(dir, "out")); code != 0 {
		t.Fatalf("run with a tuning file: %s", e)
	}
	bench("--batch", "3")
	if r.Tuning != "heuristic" {
		t.Errorf("batch 3 (not tuned): tuning %q", r.Tuning)
	}
	// A corrupt file is ignored.
	tf := model + ".poda-tune.json"
	good, _ := os.ReadFile(tf)
	if err := os.WriteFile(tf, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	bench()
	if r.Tuning != "heuristic" {
		t.Errorf("corrupt tuning file: tuning %q", r.Tuning)
	}
	if err := os.WriteFile(tf, good, 0o644); err != nil {
		t.Fatal(err)
	}
	// A changed model invalidates the file.
	if err := os.Remove(model); err != nil {
		t.Fatal(err)
	}
	if _, e, code := podaCmd(t, "prune", "../../testdata/models/lenet300.onnx", "-o", model, "--sparsity", "0.9", "--scope", "global"); code != 0 {
		t.Fatalf("prune: %s", e)
	}
	bench()
	if r.Tuning != "heuristic" {
		t.Errorf("changed model: tuning %q", r.Tuning)
	}
}

// TestBenchSpin: --spin sets the pool's polling for the run (the JSON
// reports the pool's setting while it ran), then restores the process's
// setting; a negative one is refused.
func TestBenchSpin(t *testing.T) {
	const model = "../../testdata/models/lenet5.onnx"
	before := kernels.SetWorkerSpin(kernels.DefaultWorkerSpin)
	defer kernels.SetWorkerSpin(before)
	for _, c := range []struct {
		args []string
		us   float64
	}{{nil, 500}, {[]string{"--spin", "0"}, 0}, {[]string{"--spin", "2ms"}, 2000}} {
		o, e, code := podaCmd(t, append([]string{"bench", model, "--runs", "5", "--batch", "4", "--json"}, c.args...)...)
		if code != 0 {
			t.Fatalf("bench %v: %s", c.args, e)
		}
		var r benchResult
		if err := json.Unmarshal([]byte(o), &r); err != nil {
			t.Fatal(err, o)
		}
		if r.WorkerSpinUs != c.us || r.Runs != 5 || !(r.LatencyMsMed > 0) {
			t.Errorf("bench %v: spin %v µs, runs %d, median %v ms; want spin %v", c.args, r.WorkerSpinUs, r.Runs, r.LatencyMsMed, c.us)
		}
		if got := kernels.WorkerSpin(); got != kernels.DefaultWorkerSpin {
			t.Errorf("bench %v left the spin at %v", c.args, got)
		}
	}
	if _, e, code := podaCmd(t, "bench", model, "--spin", "-1ms"); code == 0 {
		t.Errorf("--spin -1ms accepted: %s", e)
	}
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	goruntime "runtime"
	"strconv"
	"time"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/runtime"
	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// benchResult is what `poda bench --json` prints.
type benchResult struct {
	Model          string  `json:"model"`
	Batch          int     `json:"batch"`
	Runs           int     `json:"runs"`
	LatencyMsMin   float64 `json:"latency_ms_min"`
	LatencyMsMed   float64 `json:"latency_ms_median"`
	LatencyMsP90   float64 `json:"latency_ms_p90"`
	ThroughputPerS float64 `json:"throughput_per_s"`
	PeakBytes      int64   `json:"peak_bytes"`
	Threads        int     `json:"threads"`
	// WorkerSpinUs is how long idle worker threads polled for work before
	// sleeping (--spin), in µs.
	WorkerSpinUs float64 `json:"worker_spin_us"`
	// Tuning says where the layers' formats came from: "tuned" (--tune,
	// measured now), "cached" (the tuning file) or "heuristic".
	Tuning string       `json:"tuning"`
	Layers []benchLayer `json:"layers"`
}

// benchLayer is one Conv, Gemm or MatMul with a constant weight: the
// format it runs in and its measured speedup over dense (1 when not
// measured in this run).
type benchLayer struct {
	Node    string  `json:"node"`
	Op      string  `json:"op"`
	Format  string  `json:"format"`
	Speedup float64 `json:"speedup"`
}

func init() {
	register(&command{
		name:  "bench",
		usage: "MODEL [--batch N] [--runs N] [--tune] [--spin D] [--json]",
		short: "measure latency, throughput and peak memory in Poda's runtime",
		long: `Bench runs MODEL on random inputs of the given batch size: a few warm-up runs,
then repeated runs, and reports latency (min, median, p90), throughput
(samples per second at the median latency) and peak memory.

peak_bytes is what one run needs at its peak, from the runtime's memory plan:
the weights, the planned buffers of every intermediate value (reused by
liveness) and op scratch space, and the inputs and outputs.

Pruned layers (Conv, Gemm, MatMul whose constant weight is at least half
zeros) run in a sparse format: CSR, BSR 1x8 or N:M, or for stride-1
convolutions "direct" (CSR taps over the image, no im2col). --tune times
each such layer at the given batch size on dense GEMM and in every format
that fits its weight (other stride-1 convolutions on dense and direct),
keeps the fastest (dense unless a format is measurably
faster, so no layer runs slower than dense), benchmarks with that choice
and writes it to MODEL.poda-tune.json (atomically; one entry per batch
size, tied to a SHA-256 of the model file, so a changed model ignores it).
Without --tune, bench and run use that file's entry for the batch size
when there is one, else a density heuristic.

Work split across threads runs on a pool of worker threads that poll for
new work for --spin (default 500µs) before they sleep: a sleeping one took
130 µs to wake on the 2-vCPU machines Poda is measured on, longer than many
whole layers. Polling keeps a core busy for up to that long after each
parallel step; --spin 0 shows the latency without it.

--json prints one object; "layers" lists each weight layer's node, op,
format and speedup (dense time / chosen time, measured when tuning now,
else from the tuning file, else 1), and "tuning" says which.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			batch := fs.Int("batch", 1, "batch `N`")
			runs := fs.Int("runs", 0, "timed `RUNS` (0: as many as fit in about 2 s, at least 10)")
			threads := fs.Int("threads", 0, "worker `N` (0: all cores)")
			asJSON := fs.Bool("json", false, "print one JSON object")
			tune := fs.Bool("tune", false, "time each pruned layer in each sparse format at this batch size, keep the fastest and save the choice beside the model")
			spin := fs.Duration("spin", kernels.DefaultWorkerSpin, "how long idle worker threads poll for work before they sleep (`D`; 0: sleep at once, as a device whose idle cores must sleep would)")
			return func(ctx context.Context, args []string, w io.Writer) error {
				if len(args) != 1 {
					return usagef("bench takes one model, got %d arguments", len(args))
				}
				if *batch <= 0 {
					return usagef("--batch %d must be positive", *batch)
				}
				if *spin < 0 {
					return usagef("--spin %v must not be negative", *spin)
				}
				defer kernels.SetWorkerSpin(kernels.SetWorkerSpin(*spin))
				m, err := graph.Load(args[0], onnx.Limits{})
				if err != nil {
					return err
				}
				body, err := os.ReadFile(args[0])
				if err != nil {
					return err
				}
				opt := runtime.Options{Threads: *threads, Tune: *tune}
				tuning := "tuned"
				var cached map[string]float64
				if !*tune {
					tuning = "heuristic"
					if opt.Formats, cached, err = loadTuning(args[0], body, *batch); err != nil {
						return err
					} else if opt.Formats != nil {
						tuning = "cached"
					}
				}
				r, layers, err := benchWith(ctx, m, *batch, *runs, opt)
				if err != nil {
					return err
				}
				r.Model, r.Tuning, r.WorkerSpinUs = args[0], tuning, float64(kernels.WorkerSpin())/float64(time.Microsecond)
				for _, l := range layers {
					sp := l.Speedup
					if s, ok := cached[l.Node]; ok && tuning == "cached" && s > 0 {
						sp = s
					}
					r.Layers = append(r.Layers, benchLayer{Node: l.Node, Op: l.Op, Format: l.Format, Speedup: sp})
				}
				if *tune {
					if err := runtime.SaveTuning(runtime.TuningPath(args[0]), body, *batch, r.Threads, layers); err != nil {
						return err
					}
				}
				if *asJSON {
					return writeJSON(w, r)
				}
				fmt.Fprintf(w, "%s batch %d, %d runs on %d threads: latency min %.3f ms, median %.3f ms, p90 %.3f ms; %.1f samples/s; peak %s\n",
					args[0], r.Batch, r.Runs, r.Threads, r.LatencyMsMin, r.LatencyMsMed, r.LatencyMsP90, r.ThroughputPerS, humanBytes(r.PeakBytes))
				if tuning != "heuristic" {
					width := 0
					for _, l := range r.Layers {
						width = max(width, len(l.Node))
					}
					for _, l := range r.Layers {
						fmt.Fprintf(w, "  %-*s %-6s %-7s %.2fx\n", width, l.Node, l.Op, l.Format, l.Speedup)
					}
					if *tune {
						fmt.Fprintf(w, "formats saved to %s\n", runtime.TuningPath(args[0]))
					}
				}
				return nil
			}
		},
	})
}

// benchInputs makes seeded random inputs at the model's declared shapes,
// with symbolic dimensions set to batch.
func benchInputs(m *graph.Model, batch int) (map[string]*tensor.Tensor, error) {
	rng := rand.New(rand.NewPCG(1, 2))
	feeds := map[string]*tensor.Tensor{}
	for _, v := range m.Graph.RealInputs() {
		if v.Shape == nil {
			return nil, fmt.Errorf("input %q has no declared shape; cannot make a benchmark input", v.Name)
		}
		dims := make([]int, len(v.Shape))
		for i, d := range v.Shape {
			dims[i] = int(d.Value)
			if !d.Known() {
				dims[i] = batch
			}
		}
		switch v.DType {
		case tensor.Float:
			t := tensor.New(dims...)
			for i := range t.F32 {
				t.F32[i] = float32(rng.NormFloat64())
			}
			feeds[v.Name] = t
		case tensor.Int64:
			feeds[v.Name] = tensor.NewInt64(dims...)
		default:
			return nil, fmt.Errorf("input %q has type %s; bench makes float32 and int64 inputs", v.Name, v.DType)
		}
	}
	return feeds, nil
}

// loadTuning reads the formats stored for batch in the model's tuning
// file (nil if there are none for these model bytes, or the file cannot
// be parsed), with their measured speedups by node.
func loadTuning(model string, body []byte, batch int) (map[string]string, map[string]float64, error) {
	formats, err := runtime.LoadTuning(runtime.TuningPath(model), body, batch)
	if err != nil || formats == nil {
		return nil, nil, nil // an unreadable tuning file is ignored like a stale one
	}
	speedups := map[string]float64{}
	if tf, err := readTuningFile(runtime.TuningPath(model)); err == nil {
		if e, ok := tf.Batches[strconv.Itoa(batch)]; ok {
			for _, l := range e.Layers {
				speedups[l.Node] = l.Speedup
			}
		}
	}
	return formats, speedups, nil
}

func readTuningFile(path string) (*runtime.TuningFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var tf runtime.TuningFile
	return &tf, json.Unmarshal(b, &tf)
}

// tunedFormats returns the formats the model's tuning file holds for the
// batch size of feeds (dim 0 of the first input), or nil.
func tunedFormats(model string, m *graph.Model, feeds map[string]*tensor.Tensor) (map[string]string, error) {
	in := m.Graph.RealInputs()
	if len(in) == 0 || feeds[in[0].Name] == nil || len(feeds[in[0].Name].Shape) == 0 {
		return nil, nil
	}
	if _, err := os.Stat(runtime.TuningPath(model)); err != nil {
		return nil, nil
	}
	body, err := os.ReadFile(model)
	if err != nil {
		return nil, err
	}
	formats, err := runtime.LoadTuning(runtime.TuningPath(model), body, feeds[in[0].Name].Shape[0])
	if err != nil {
		return nil, nil // an unreadable tuning file is ignored like a stale one
	}
	return formats, nil
}

func benchModel(ctx context.Context, m *graph.Model, batch, runs, threads int) (*benchResult, error) {
	r, _, err := benchWith(ctx, m, batch, runs, runtime.Options{Threads: threads})
	return r, err
}

// benchWith benchmarks m with the given session options and returns the
// layers' formats too.
func benchWith(ctx context.Context, m *graph.Model, batch, runs int, opt runtime.Options) (*benchResult, []runtime.LayerFormat, error) {
	threads := opt.Threads
	s, err := runtime.New(m, opt)
	if err != nil {
		return nil, nil, err
	}
	feeds, err := benchInputs(m, batch)
	if err != nil {
		return nil, nil, err
	}
	if runs <= 0 {
		// Size the run to about 2 s from one timed probe, at least 10 runs.
		probe, err := runtime.Benchmark(ctx, s, feeds, 1, 3)
		if err != nil {
			return nil, nil, err
		}
		runs = max(10, min(10000, int(2*time.Second/max(probe.Median, time.Microsecond))))
	}
	r, err := runtime.Benchmark(ctx, s, feeds, 3, runs)
	if err != nil {
		return nil, nil, err
	}
	th := threads
	if th == 0 {
		th = goruntime.GOMAXPROCS(0)
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return &benchResult{Batch: batch, Runs: r.Iters, LatencyMsMin: ms(r.Min), LatencyMsMed: ms(r.Median), LatencyMsP90: ms(r.P90),
		ThroughputPerS: float64(batch) / r.Median.Seconds(), PeakBytes: r.PeakBytes, Threads: th}, s.LayerFormats(), nil
}

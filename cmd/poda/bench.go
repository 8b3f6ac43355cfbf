package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	goruntime "runtime"
	"time"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/runtime"
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
}

func init() {
	register(&command{
		name:  "bench",
		usage: "MODEL [--batch N] [--runs N] [--json]",
		short: "measure latency, throughput and peak memory in Poda's runtime",
		long: `Bench runs MODEL on random inputs of the given batch size: a few warm-up runs,
then repeated runs, and reports latency (min, median, p90), throughput
(samples per second at the median latency) and peak memory.

peak_bytes is what one run needs at its peak, from the runtime's memory plan:
the weights, the planned buffers of every intermediate value (reused by
liveness) and op scratch space, and the inputs and outputs.`,
		setup: func(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
			batch := fs.Int("batch", 1, "batch `N`")
			runs := fs.Int("runs", 0, "timed `RUNS` (0: as many as fit in about 2 s, at least 10)")
			threads := fs.Int("threads", 0, "worker `N` (0: all cores)")
			asJSON := fs.Bool("json", false, "print one JSON object")
			return func(ctx context.Context, args []string, w io.Writer) error {
				if len(args) != 1 {
					return usagef("bench takes one model, got %d arguments", len(args))
				}
				if *batch <= 0 {
					return usagef("--batch %d must be positive", *batch)
				}
				m, err := graph.Load(args[0], onnx.Limits{})
				if err != nil {
					return err
				}
				r, err := benchModel(ctx, m, *batch, *runs, *threads)
				if err != nil {
					return err
				}
				r.Model = args[0]
				if *asJSON {
					return writeJSON(w, r)
				}
				fmt.Fprintf(w, "%s batch %d, %d runs on %d threads: latency min %.3f ms, median %.3f ms, p90 %.3f ms; %.1f samples/s; peak %s\n",
					args[0], r.Batch, r.Runs, r.Threads, r.LatencyMsMin, r.LatencyMsMed, r.LatencyMsP90, r.ThroughputPerS, humanBytes(r.PeakBytes))
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

func benchModel(ctx context.Context, m *graph.Model, batch, runs, threads int) (*benchResult, error) {
	s, err := runtime.New(m, runtime.Options{Threads: threads})
	if err != nil {
		return nil, err
	}
	feeds, err := benchInputs(m, batch)
	if err != nil {
		return nil, err
	}
	if runs <= 0 {
		// Size the run to about 2 s from one timed probe, at least 10 runs.
		probe, err := runtime.Benchmark(ctx, s, feeds, 1, 3)
		if err != nil {
			return nil, err
		}
		runs = max(10, min(10000, int(2*time.Second/max(probe.Median, time.Microsecond))))
	}
	r, err := runtime.Benchmark(ctx, s, feeds, 3, runs)
	if err != nil {
		return nil, err
	}
	th := threads
	if th == 0 {
		th = goruntime.GOMAXPROCS(0)
	}
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	return &benchResult{Batch: batch, Runs: r.Iters, LatencyMsMin: ms(r.Min), LatencyMsMed: ms(r.Median), LatencyMsP90: ms(r.P90),
		ThroughputPerS: float64(batch) / r.Median.Seconds(), PeakBytes: r.PeakBytes, Threads: th}, nil
}

package runtime

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/podaml/poda/tensor"
)

// BenchResult summarises the wall-clock times of repeated Runs.
type BenchResult struct {
	Iters            int
	Min, Median, P90 time.Duration
	Mean             time.Duration
	ArenaBytes       int64 // the plan's arena (intermediate values) plus scratch
	WeightBytes      int64 // initializers plus constants folded at plan time
	IOBytes          int64 // the inputs and the outputs of one Run
	PeakBytes        int64 // ArenaBytes + WeightBytes + IOBytes
	PlanTime         time.Duration
	SamplesPerSecond float64 // batch (dim 0 of the first input) / Median
}

// Benchmark runs s on inputs warmup times untimed, then iters times
// timed, one Run after another.
//
// PeakBytes is computed from the plan, not measured from the Go heap: the
// arena of one Run (every intermediate value at its planned offset, so
// reuse by liveness is accounted for, plus the op scratch such as im2col
// buffers), the weights (initializers and plan-time constants), and the
// inputs and outputs. It is what one Run needs at its peak; Go's own
// overhead (the garbage collector lets the heap grow past live data) is
// not included.
func Benchmark(ctx context.Context, s *Session, inputs map[string]*tensor.Tensor, warmup, iters int) (BenchResult, error) {
	var r BenchResult
	if iters <= 0 {
		return r, fmt.Errorf("runtime: Benchmark needs iters > 0")
	}
	t0 := time.Now()
	outs, err := s.Run(ctx, inputs)
	if err != nil {
		return r, err
	}
	r.PlanTime = time.Since(t0)
	for i := 1; i < warmup; i++ {
		if _, err := s.Run(ctx, inputs); err != nil {
			return r, err
		}
	}
	times := make([]time.Duration, iters)
	var total time.Duration
	for i := range times {
		t := time.Now()
		if _, err := s.Run(ctx, inputs); err != nil {
			return r, err
		}
		times[i] = time.Since(t)
		total += times[i]
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	r.Iters = iters
	r.Min, r.Median = times[0], times[iters/2]
	r.P90 = times[min(iters-1, iters*9/10)]
	r.Mean = total / time.Duration(iters)

	var ins []*tensor.Tensor
	for _, name := range s.inputNames {
		ins = append(ins, inputs[name])
		r.IOBytes += inputs[name].Bytes()
	}
	for _, t := range outs {
		r.IOBytes += t.Bytes()
	}
	p, err := s.planFor(ins)
	if err != nil {
		return r, err
	}
	r.ArenaBytes = int64(p.arenaBytes) + 4*int64(p.scratch)
	read := map[int]bool{}
	for _, st := range p.steps {
		for _, si := range st.in {
			read[si] = true
		}
	}
	for si := range p.slots {
		if sl := &p.slots[si]; sl.kind == slotConst && sl.konst != nil && read[si] {
			r.WeightBytes += sl.konst.Bytes()
		}
	}
	r.PeakBytes = r.ArenaBytes + r.WeightBytes + r.IOBytes
	if len(ins) > 0 && len(ins[0].Shape) > 0 && r.Median > 0 {
		r.SamplesPerSecond = float64(ins[0].Shape[0]) / r.Median.Seconds()
	}
	return r, nil
}

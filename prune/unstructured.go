package prune

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"path"
	"slices"

	"github.com/podaml/poda/graph"
)

// Scope says how a sparsity target applies across tensors.
type Scope int

const (
	// LayerWise prunes every tensor to the target sparsity.
	LayerWise Scope = iota
	// Global ranks all prunable weights together under one threshold.
	Global
)

// Method is how unstructured pruning scores weights.
type Method int

const (
	// Magnitude removes the weights of smallest |w|.
	Magnitude Method = iota
	// Random removes a seeded random subset: a baseline.
	Random
)

func (m Method) String() string {
	if m == Random {
		return "random"
	}
	return "magnitude"
}

// Override sets the sparsity of the tensors or nodes matching Pattern (a
// path.Match glob on the tensor name, node name or op type). In global
// scope an overridden tensor is pruned layer-wise to its own target and
// left out of the global ranking.
type Override struct {
	Pattern  string
	Sparsity float64
}

// UnstructuredOptions configure Unstructured.
type UnstructuredOptions struct {
	Sparsity  float64 // fraction of weights to make zero, in [0, 1]
	Scope     Scope
	Method    Method
	Seed      uint64     // for Random
	Exclude   []string   // globs of tensors, nodes or op types to leave alone
	Overrides []Override // per-layer targets; the last matching one wins
	// Include adds initializers (by glob on their names) that are not
	// prunable by default, such as biases or embedding tables.
	Include []string
}

// Unstructured zeroes individual weights of m in place until each tensor
// (LayerWise) or the set of tensors (Global) has exactly the target
// sparsity: round(s·n) weights, counting weights that were already zero.
// Ties in |w| are broken by position, so the result is deterministic.
func Unstructured(m *graph.Model, opt UnstructuredOptions) (*Report, error) {
	if err := checkFraction("sparsity", opt.Sparsity); err != nil {
		return nil, err
	}
	for _, o := range opt.Overrides {
		if err := checkFraction("override "+o.Pattern, o.Sparsity); err != nil {
			return nil, err
		}
	}
	targets := withIncluded(m, Targets(m), opt.Include)
	rng := rand.New(rand.NewPCG(opt.Seed, 0x706f6461))
	r := &Report{Method: opt.Method.String()}
	type member struct {
		t      Target
		target float64
	}
	var global []member
	var layer []member
	for _, t := range targets {
		if t.Matches(opt.Exclude) {
			r.add(tensorReport(m, t, 0, "excluded"))
			continue
		}
		s, overridden := opt.Sparsity, false
		for _, o := range opt.Overrides {
			if t.Matches([]string{o.Pattern}) {
				s, overridden = o.Sparsity, true
			}
		}
		if opt.Scope == Global && !overridden {
			global = append(global, member{t, s})
		} else {
			layer = append(layer, member{t, s})
		}
	}
	reports := map[string]TensorReport{}
	for _, mb := range layer {
		w := m.Graph.Initializer(mb.t.Tensor).F32
		tr := tensorReport(m, mb.t, mb.target, "")
		k := int(math.Round(mb.target * float64(len(w))))
		zeroSmallest(w, k, opt.Method, rng)
		reports[mb.t.Tensor] = finish(tr, w)
	}
	if len(global) > 0 {
		var ws [][]float32
		for _, mb := range global {
			ws = append(ws, m.Graph.Initializer(mb.t.Tensor).F32)
		}
		before := make([]TensorReport, len(global))
		for i, mb := range global {
			before[i] = tensorReport(m, mb.t, opt.Sparsity, "")
		}
		zeroGlobal(ws, opt.Sparsity, opt.Method, rng)
		for i, mb := range global {
			reports[mb.t.Tensor] = finish(before[i], ws[i])
		}
	}
	// Report in graph order.
	for _, t := range targets {
		if tr, ok := reports[t.Tensor]; ok {
			r.add(tr)
		}
	}
	return r, nil
}

func checkFraction(what string, s float64) error {
	if !(s >= 0 && s <= 1) {
		return fmt.Errorf("%s %v must be in [0, 1]", what, s)
	}
	return nil
}

// withIncluded adds the initializers matching include to targets.
func withIncluded(m *graph.Model, targets []Target, include []string) []Target {
	if len(include) == 0 {
		return targets
	}
	have := map[string]bool{}
	for _, t := range targets {
		have[t.Tensor] = true
	}
	for _, n := range m.Graph.Nodes {
		for _, in := range n.Inputs {
			t := m.Graph.Initializer(in)
			if t == nil || have[in] || !t.DType.IsFloat() {
				continue
			}
			for _, p := range include {
				if ok, _ := path.Match(p, in); ok {
					have[in] = true
					targets = append(targets, Target{Tensor: in, Node: n, ReduceAxis: len(t.Shape) - 1})
					break
				}
			}
		}
	}
	return targets
}

func tensorReport(m *graph.Model, t Target, target float64, skipped string) TensorReport {
	w := m.Graph.Initializer(t.Tensor)
	z := countZeros(w.F32)
	return TensorReport{Tensor: t.Tensor, Node: t.Node.Name, Op: t.Node.OpType, Shape: append([]int(nil), w.Shape...),
		Numel: len(w.F32), ZerosBefore: z, ZerosAfter: z, Target: target, Skipped: skipped,
		SparsityAfter: float64(z) / float64(max(1, len(w.F32)))}
}

func finish(tr TensorReport, w []float32) TensorReport {
	tr.ZerosAfter = countZeros(w)
	tr.SparsityAfter = float64(tr.ZerosAfter) / float64(max(1, len(w)))
	return tr
}

func countZeros(w []float32) int {
	z := 0
	for _, v := range w {
		if v == 0 {
			z++
		}
	}
	return z
}

// magnitudeOrder returns the indices of w by increasing |w|, ties by index.
// It sorts 64-bit keys (|w|'s bits above the index): the bits of
// non-negative floats order like the floats, and the index breaks ties.
func magnitudeOrder(w []float32) []int {
	if len(w) >= 1<<32 {
		idx := make([]int, len(w))
		for i := range idx {
			idx[i] = i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(abs32(w[a]), abs32(w[b])) })
		return idx
	}
	keys := make([]uint64, len(w))
	for i, v := range w {
		keys[i] = uint64(math.Float32bits(abs32(v)))<<32 | uint64(i)
	}
	slices.Sort(keys)
	idx := make([]int, len(w))
	for i, k := range keys {
		idx[i] = int(uint32(k))
	}
	return idx
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

// zeroSmallest zeroes the k lowest-scored weights of w.
func zeroSmallest(w []float32, k int, method Method, rng *rand.Rand) {
	if k <= 0 {
		return
	}
	if method == Random {
		// Weights already zero count toward the target; pick the rest at
		// random among the non-zero ones.
		z := countZeros(w)
		if k <= z {
			return
		}
		var nz []int
		for i, v := range w {
			if v != 0 {
				nz = append(nz, i)
			}
		}
		rng.Shuffle(len(nz), func(i, j int) { nz[i], nz[j] = nz[j], nz[i] })
		for _, i := range nz[:k-z] {
			w[i] = 0
		}
		return
	}
	for _, i := range magnitudeOrder(w)[:k] {
		w[i] = 0
	}
}

// zeroGlobal zeroes round(s·N) weights across all tensors, ranked together.
func zeroGlobal(ws [][]float32, s float64, method Method, rng *rand.Rand) {
	type ref struct{ t, i int }
	var all []ref
	var flat []float32
	for t, w := range ws {
		for i, v := range w {
			all = append(all, ref{t, i})
			flat = append(flat, v)
		}
	}
	k := int(math.Round(s * float64(len(flat))))
	if method == Random {
		zeroSmallest(flat, k, Random, rng)
		for j, r := range all {
			ws[r.t][r.i] = flat[j]
		}
		return
	}
	for _, j := range magnitudeOrder(flat)[:k] {
		r := all[j]
		ws[r.t][r.i] = 0
	}
}

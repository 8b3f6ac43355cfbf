package prune

import (
	"fmt"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// NMOptions configure NM pruning.
type NMOptions struct {
	N, M    int      // keep N of every M consecutive weights (N < M)
	Exclude []string // globs of tensors, nodes or op types to leave alone
}

// NM applies N:M semi-structured sparsity: in every group of M consecutive
// weights along a layer's reduction (input) dimension, the N of largest
// magnitude stay and the others become zero (ties: the earlier position
// stays). The reduction dimension is C_in·k_h·k_w (flattened) for Conv,
// C_in for ConvTranspose, K for Gemm and MatMul. A layer whose reduction
// size is not a multiple of M is skipped and reported.
func NM(m *graph.Model, opt NMOptions) (*Report, error) {
	if opt.M < 2 || opt.N < 1 || opt.N >= opt.M {
		return nil, fmt.Errorf("N:M pattern %d:%d: need 1 <= N < M", opt.N, opt.M)
	}
	r := &Report{Method: fmt.Sprintf("%d:%d", opt.N, opt.M)}
	target := 1 - float64(opt.N)/float64(opt.M)
	for _, t := range Targets(m) {
		if t.Matches(opt.Exclude) {
			r.add(tensorReport(m, t, 0, "excluded"))
			continue
		}
		w := m.Graph.Initializer(t.Tensor)
		outer, k, inner := reductionLayout(w.Shape, t)
		if k%opt.M != 0 {
			r.add(tensorReport(m, t, target, fmt.Sprintf("reduction size %d is not a multiple of %d", k, opt.M)))
			continue
		}
		tr := tensorReport(m, t, target, "")
		group := make([]int, opt.M)
		drop := make([]bool, opt.M)
		for o := 0; o < outer; o++ {
			for in := 0; in < inner; in++ {
				for g0 := 0; g0 < k; g0 += opt.M {
					for j := range group {
						group[j] = (o*k+g0+j)*inner + in
					}
					keepLargest(w.F32, group, opt.N, drop)
				}
			}
		}
		r.add(finish(tr, w.F32))
	}
	return r, nil
}

// reductionLayout views a weight as [outer, k, inner] where k runs along
// the reduction dimension.
func reductionLayout(shape []int, t Target) (outer, k, inner int) {
	ax := t.ReduceAxis
	if t.Node.OpType == "Conv" {
		// [C_out, C_in/g, k_h, k_w]: the whole row is the reduction.
		return shape[0], tensor.Prod(shape[1:]), 1
	}
	if t.Node.OpType == "ConvTranspose" {
		// [C_in, C_out/g, k_h, k_w]: reduce over C_in for each output tap.
		return 1, shape[0], tensor.Prod(shape[1:])
	}
	return tensor.Prod(shape[:ax]), shape[ax], tensor.Prod(shape[ax+1:])
}

// keepLargest zeroes all but the n largest-magnitude entries of w at the
// positions idx (ties: earlier positions stay). drop is scratch space of
// len(idx).
func keepLargest(w []float32, idx []int, n int, drop []bool) {
	for a := range idx {
		rank := 0 // how many entries beat idx[a]
		va := abs32(w[idx[a]])
		for b := range idx {
			vb := abs32(w[idx[b]])
			if vb > va || (vb == va && b < a) {
				rank++
			}
		}
		drop[a] = rank >= n
	}
	for a, i := range idx {
		if drop[a] {
			w[i] = 0
		}
	}
}

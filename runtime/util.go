package runtime

import (
	"fmt"

	"github.com/podaml/poda/tensor"
)

// maxRank bounds the rank of tensors the strided loops handle.
const maxRank = 16

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := int(axis)
	if a < 0 {
		a += rank
	}
	if a < 0 || a >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return a, nil
}

// broadcastShape returns the numpy-style broadcast of shapes.
func broadcastShape(shapes ...[]int) ([]int, error) {
	r := 0
	for _, s := range shapes {
		r = max(r, len(s))
	}
	out := make([]int, r)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := r - len(s)
		for i, d := range s {
			switch {
			case out[off+i] == d || d == 1:
			case out[off+i] == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v do not broadcast", shapes)
			}
		}
	}
	return out, nil
}

// bcastStrides returns the element strides of shape s broadcast to out
// (0 along broadcast dimensions).
func bcastStrides(s, out []int) []int {
	st := make([]int, len(out))
	off := len(out) - len(s)
	n := 1
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] != 1 {
			st[off+i] = n
		}
		n *= s[i]
	}
	return st
}

// strided iterates an output of some shape whose operands read with given
// strides. Dimensions are merged where possible, so the innermost loop is
// as long as it can be.
type strided struct {
	n     int     // output elements
	dims  []int   // merged dims, outermost first; the last is the inner loop
	str   [][]int // per operand, strides over dims
	inner int     // dims[len-1]
}

// newStrided merges the dims of out for operands with the given strides.
func newStrided(out []int, strides ...[]int) (*strided, error) {
	if len(out) > maxRank {
		return nil, fmt.Errorf("rank %d exceeds %d", len(out), maxRank)
	}
	s := &strided{n: tensor.Prod(out), str: make([][]int, len(strides))}
	for i := range out {
		if out[i] == 1 {
			continue
		}
		k := len(s.dims) - 1
		canMerge := k >= 0
		if canMerge {
			for j, st := range strides {
				if s.str[j][k] != st[i]*out[i] {
					canMerge = false
				}
			}
		}
		if canMerge {
			s.dims[k] *= out[i]
			for j, st := range strides {
				s.str[j][k] = st[i]
			}
			continue
		}
		s.dims = append(s.dims, out[i])
		for j, st := range strides {
			s.str[j] = append(s.str[j], st[i])
		}
	}
	if len(s.dims) == 0 {
		s.dims = []int{1}
		for j := range s.str {
			s.str[j] = []int{0}
		}
	}
	s.inner = s.dims[len(s.dims)-1]
	return s, nil
}

// each calls f(o, offs) for each run of s.inner output elements starting at
// output offset o, with offs[j] the starting offset of operand j. Chunks
// [lo, hi) of the outer iterations allow parallel use.
func (s *strided) each(lo, hi int, f func(o int, offs [4]int)) {
	nd := len(s.dims) - 1
	var idx [maxRank]int
	var offs [4]int
	// Position the odometer at outer iteration lo.
	rem := lo
	for d := nd - 1; d >= 0; d-- {
		idx[d] = rem % s.dims[d]
		rem /= s.dims[d]
	}
	for j := range s.str {
		offs[j] = 0
		for d := 0; d < nd; d++ {
			offs[j] += idx[d] * s.str[j][d]
		}
	}
	for it := lo; it < hi; it++ {
		f(it*s.inner, offs)
		for d := nd - 1; d >= 0; d-- {
			idx[d]++
			for j := range s.str {
				offs[j] += s.str[j][d]
			}
			if idx[d] < s.dims[d] {
				break
			}
			for j := range s.str {
				offs[j] -= s.dims[d] * s.str[j][d]
			}
			idx[d] = 0
		}
	}
}

// outer is the number of inner runs.
func (s *strided) outer() int {
	if s.inner == 0 {
		return 0
	}
	return s.n / s.inner
}

// parallelMin is the amount of work (roughly, elements touched) below which
// loops stay on one goroutine.
const parallelMin = 1 << 16

// chunks is the number of goroutines forRange uses for n items and the
// given amount of work.
func (e *env) chunks(n, work int) int {
	return max(1, min(e.threads, n, work/parallelMin))
}

// A chunker is a parallel loop body with its state: chunk computes
// iterations [lo, hi) as chunk number t. Jobs are small structs with a
// value-receiver chunk method, passed by value: then a loop that stays on
// one goroutine allocates nothing (a closure would be moved to the heap
// on every call, since the goroutines may hold it).
type chunker interface {
	chunk(t, lo, hi int)
}

// forRange runs j over [0, n) in e.chunks(n, work) chunks, chunk t on its
// own goroutine (chunk 0 on the caller's).
func forRange[J chunker](e *env, n, work int, j J) {
	parallelChunks(e.chunks(n, work), n, j)
}

// ints64 returns the contents of an int64 or int32 tensor as int64s.
func ints64(t *tensor.Tensor) ([]int64, error) {
	switch t.DType {
	case tensor.Int64:
		return t.I64, nil
	case tensor.Int32:
		v := view[int32](t)
		out := make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want an int64 tensor, got %s", t.DType)
}

// floats32 returns the contents of a float tensor as float32s.
func floats32(t *tensor.Tensor) ([]float32, error) {
	switch t.DType {
	case tensor.Float:
		return t.F32, nil
	case tensor.Double:
		v := view[float64](t)
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(x)
		}
		return out, nil
	case tensor.Float16:
		v := view[uint16](t)
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = tensor.Float16To32(x)
		}
		return out, nil
	}
	return nil, fmt.Errorf("want a float tensor, got %s", t.DType)
}

// cloneInts copies s.
func cloneInts(s []int) []int { return append([]int{}, s...) }

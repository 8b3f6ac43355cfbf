package train

import "fmt"

// broadcastShape returns the numpy broadcast of a and b.
func broadcastShape(a, b []int) ([]int, error) {
	n := max(len(a), len(b))
	out := make([]int, n)
	for i := 0; i < n; i++ {
		da, db := 1, 1
		if j := i - (n - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (n - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// bcastIter walks an output of shape out row by row (the last dimension
// is the row), giving for each row the offsets of the matching rows of up
// to two broadcast inputs. Inner strides are 0 (broadcast) or 1.
type bcastIter struct {
	outer  []int // out dims except the last
	sa, sb []int // input strides for the outer dims (0 where broadcast)
	inner  int
	ia, ib int
	idx    []int
}

// bstrides returns the strides of in (right-aligned) against out, 0 on
// broadcast dims.
func bstrides(in, out []int) []int {
	s := make([]int, len(out))
	st := 1
	for i := len(out) - 1; i >= 0; i-- {
		j := i - (len(out) - len(in))
		if j < 0 {
			continue
		}
		if in[j] != 1 || out[i] == 1 {
			s[i] = st
		}
		st *= in[j]
	}
	return s
}

func (it *bcastIter) set(a, b, out []int) {
	sa, sb := bstrides(a, out), bstrides(b, out)
	if len(out) == 0 {
		it.outer, it.sa, it.sb, it.inner, it.ia, it.ib = nil, nil, nil, 1, 0, 0
		it.idx = nil
		return
	}
	r := len(out) - 1
	it.outer = append(it.outer[:0], out[:r]...)
	it.sa = append(it.sa[:0], sa[:r]...)
	it.sb = append(it.sb[:0], sb[:r]...)
	it.inner, it.ia, it.ib = out[r], sa[r], sb[r]
	if out[r] == 1 {
		it.ia, it.ib = 0, 0
	}
	it.idx = make([]int, r)
}

// rows calls f(outOffset, aOffset, bOffset) for every row.
func (it *bcastIter) rows(f func(o, a, b int)) {
	for i := range it.idx {
		it.idx[i] = 0
	}
	for _, d := range it.outer {
		if d == 0 {
			return
		}
	}
	if it.inner == 0 {
		return
	}
	o, a, b := 0, 0, 0
	for {
		f(o, a, b)
		o += it.inner
		k := len(it.idx) - 1
		for ; k >= 0; k-- {
			it.idx[k]++
			a += it.sa[k]
			b += it.sb[k]
			if it.idx[k] < it.outer[k] {
				break
			}
			a -= it.sa[k] * it.outer[k]
			b -= it.sb[k] * it.outer[k]
			it.idx[k] = 0
		}
		if k < 0 {
			return
		}
	}
}

package train

import (
	"fmt"

	"github.com/podaml/poda/graph"
)

// intsAttr reads an integer-list attribute as []int.
func intsAttr(n *graph.Node, name string, def []int) []int {
	a := n.Ints(name, nil)
	if a == nil {
		return def
	}
	out := make([]int, len(a))
	for i, v := range a {
		out[i] = int(v)
	}
	return out
}

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis, rank int) (int, error) {
	if axis < 0 {
		axis += rank
	}
	if axis < 0 || axis >= rank {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return axis, nil
}

// fixedInts returns the values of an optional fixed integer input.
func fixedInts(v *value) ([]int64, error) {
	if v == nil {
		return nil, nil
	}
	if v.isFloat() || !v.fixed {
		return nil, fmt.Errorf("input %q must be a constant integer tensor: %w", v.name, ErrUnsupported)
	}
	return v.ints, nil
}

func setShape(v *value, shape ...int) { v.shape = append(v.shape[:0], shape...) }

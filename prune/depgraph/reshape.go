package depgraph

import (
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// maxFeatures bounds the feature lists built when a Flatten or Reshape
// merges the channel axis with others.
const maxFeatures = 1 << 24

// mergeAtoms maps the channels on dims[pos] to the flattened features of
// dims: feature f carries the atom of its coordinate along pos.
func mergeAtoms(dims []int, pos int, atoms []int) []int {
	total := tensor.Prod(dims)
	inner := tensor.Prod(dims[pos+1:])
	out := make([]int, total)
	for f := range out {
		out[f] = atoms[(f/inner)%dims[pos]]
	}
	return out
}

func knownInts(s graph.Shape) ([]int, bool) {
	if s == nil {
		return nil, false
	}
	return s.Ints()
}

func prodOK(dims []int) bool {
	p := 1
	for _, d := range dims {
		if d <= 0 || p > maxFeatures/d {
			return false
		}
		p *= d
	}
	return true
}

// flattenRule: channels on an axis at or after Flatten's axis map to
// blocks of features (channel c of a [N,C,H,W] value becomes features
// [c·H·W, (c+1)·H·W)).
func flattenRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	in := b.shape(n.Input(0))
	if in == nil {
		b.block(c.atoms, "%s: input shape unknown", n)
		return
	}
	r := len(in)
	k := int(n.Int("axis", 1))
	if k < 0 {
		k += r
	}
	if c.axis < k {
		if c.axis == 0 && k == 1 {
			b.setChan(n.Outputs[0], 0, c.atoms)
			return
		}
		b.block(c.atoms, "%s merges the channel axis with leading axes", n)
		return
	}
	dims, ok := knownInts(in[k:])
	if !ok || !prodOK(dims) || dims[c.axis-k] != len(c.atoms) {
		b.block(c.atoms, "%s: flattened dims %v unknown or too large", n, in[k:])
		return
	}
	b.setChan(n.Outputs[0], 1, mergeAtoms(dims, c.axis-k, c.atoms))
}

func dimEq(a, b graph.Dim) bool {
	return a == b && (a.Known() || a.Param != "")
}

// reshapeRule understands Reshapes that keep the channel axis, merge it
// with neighbouring known dims (a Flatten into a linear layer, the
// [B,T,H,Dh]→[B,T,D] merge after attention), or split it into [H, Dh]
// (a projection split into attention heads: each head's Dh channels are
// tied, so heads are pruned whole). The target entry of the channel axis
// is rewritten after pruning.
func reshapeRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	b.blockValue(n.Input(1), "%s reads channels as its shape", n)
	if c == nil {
		return
	}
	I, O := b.shape(n.Input(0)), b.shape(n.Outputs[0])
	if I == nil || O == nil {
		b.block(c.atoms, "%s: shapes unknown", n)
		return
	}
	r, s := len(I), len(O)
	k := 0
	for k < r && k < s && dimEq(I[k], O[k]) {
		k++
	}
	if k == 0 && r > 0 && s > 0 {
		// A dynamic batch against a -1 target: equal if the rest has the
		// same known size.
		ri, ok1 := knownInts(I[1:])
		ro, ok2 := knownInts(O[1:])
		if ok1 && ok2 && tensor.Prod(ri) == tensor.Prod(ro) && (!I[0].Known() || !O[0].Known()) {
			k = 1
			for k < r && k < s && dimEq(I[k], O[k]) {
				k++
			}
		}
	}
	j := 0
	for j < r-k && j < s-k && dimEq(I[r-1-j], O[s-1-j]) && I[r-1-j].Known() {
		j++
	}
	var outAxis int
	var outAtoms []int
	switch {
	case c.axis < k:
		outAxis, outAtoms = c.axis, c.atoms
	case c.axis >= r-j:
		outAxis, outAtoms = s-(r-c.axis), c.atoms
	default:
		midIn, ok1 := knownInts(I[k : r-j])
		midOut, ok2 := knownInts(O[k : s-j])
		switch {
		case !ok1 || !ok2 || !prodOK(midIn) || midIn[c.axis-k] != len(c.atoms):
			b.block(c.atoms, "%s: reshaped dims %v → %v unknown", n, I, O)
			return
		case len(midOut) == 1:
			outAxis, outAtoms = k, mergeAtoms(midIn, c.axis-k, c.atoms)
		case len(midIn) == 1 && len(midOut) == 2 && midOut[0]*midOut[1] == len(c.atoms) && midOut[1] > 0:
			heads, dh := midOut[0], midOut[1]
			outAxis, outAtoms = k, make([]int, heads)
			for h := range heads {
				outAtoms[h] = c.atoms[h*dh]
				for d := 1; d < dh; d++ {
					b.union(c.atoms[h*dh], c.atoms[h*dh+d])
				}
			}
		default:
			b.block(c.atoms, "%s reshapes the channel axis %v → %v", n, I[k:r-j], O[k:s-j])
			return
		}
	}
	fix, ok := b.targetFix(n, outAxis, outAtoms, c.axis == outAxis && len(outAtoms) == len(c.atoms))
	if !ok {
		b.block(c.atoms, "%s: target shape entry %d cannot be rewritten (computed at run time)", n, outAxis)
		return
	}
	if fix != nil {
		b.fixups = append(b.fixups, fix)
	}
	b.setChan(n.Outputs[0], outAxis, outAtoms)
}

// targetFix returns the rewrite of Reshape n's target entry p to the number
// of kept atoms, nil when none is needed, or false when the entry cannot be
// rewritten. copyOK says a 0 (copy the input dim) stays right.
func (b *builder) targetFix(n *graph.Node, p int, atoms []int, copyOK bool) (fixup, bool) {
	tgt := n.Input(1)
	info := b.shapes[tgt]
	if info == nil || info.Value == nil || p >= len(info.Value) {
		return nil, false
	}
	v := info.Value[p]
	allowZero := n.Int("allowzero", 0) == 1
	if v.Known() && v.Value == -1 {
		return nil, true
	}
	if v.Known() && v.Value == 0 && !allowZero {
		return nil, copyOK
	}
	orig := len(atoms)
	// Whole-constant targets.
	var whole *tensor.Tensor
	if t := b.g.Initializer(tgt); t != nil && t.DType == tensor.Int64 && len(t.Shape) == 1 {
		whole = &t.Tensor
	} else if pr := b.g.Producer(tgt); pr != nil && pr.OpType == "Constant" {
		if t, err := pr.Tensor("value"); err == nil && t != nil && t.DType == tensor.Int64 && len(t.Shape) == 1 {
			whole = t
		}
	}
	if whole != nil {
		if p >= len(whole.I64) {
			return nil, false
		}
		vals := append([]int64(nil), whole.I64...)
		return func(a *applier) error {
			k := a.keptCount(atoms)
			if k == orig {
				return nil
			}
			vals[p] = int64(k)
			name := a.m.Graph.UniqueName(tgt + "_pruned")
			a.m.Graph.AddInitializer(name, int64Tensor(vals))
			n.Inputs[1] = name
			return nil
		}, true
	}
	// A Concat of 1-D pieces (dynamic batch dims next to constants).
	pr := b.g.Producer(tgt)
	if pr == nil || pr.OpType != "Concat" {
		return nil, false
	}
	off := 0
	for i, piece := range pr.Inputs {
		sh := b.shape(piece)
		if len(sh) != 1 || !sh[0].Known() {
			return nil, false
		}
		l := int(sh[0].Value)
		if p >= off+l {
			off += l
			continue
		}
		var vals []int64
		if l > 1 {
			var ok bool
			if vals, ok = b.ints(piece); !ok {
				return nil, false
			}
		} else {
			vals = []int64{0}
		}
		at, idx := p-off, i
		return func(a *applier) error {
			k := a.keptCount(atoms)
			if k == orig {
				return nil
			}
			vals[at] = int64(k)
			g := a.m.Graph
			name := g.UniqueName(piece + "_pruned")
			g.AddInitializer(name, int64Tensor(vals))
			cl := pr.Clone()
			cl.Name = g.UniqueName(nodeName(pr) + "_pruned")
			cl.Outputs = []string{g.UniqueName(tgt + "_pruned")}
			cl.Inputs[idx] = name
			g.InsertNode(g.NodeIndex(n), cl)
			n.Inputs[1] = cl.Outputs[0]
			g.Invalidate()
			return nil
		}, true
	}
	return nil, false
}

func int64Tensor(v []int64) *tensor.Tensor {
	return tensor.FromInt64(append([]int64(nil), v...), len(v))
}

package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// fuser is implemented by ops that can absorb the activation that follows
// them (Conv, Gemm): fuseAct reports whether it took act's node over.
type fuser interface {
	fuseAct(act *execNode, konst func(string) *tensor.Tensor) bool
}

// fusion rewrites the session's node list. It never modifies the model:
// rewired nodes get their own input and output slices, and folded weights
// are new session constants.
type fusion struct {
	nodes   []*execNode
	outputs map[string]bool
	consts  []*graph.Tensor
	names   map[string]bool
	konstOf func(string) *tensor.Tensor
}

func (f *fusion) uses() map[string]int {
	u := map[string]int{}
	for _, en := range f.nodes {
		for _, in := range en.inputs {
			u[in]++
		}
	}
	return u
}

func (f *fusion) producers() map[string]*execNode {
	p := map[string]*execNode{}
	for _, en := range f.nodes {
		for _, o := range en.outputs {
			p[o] = en
		}
	}
	return p
}

// konst returns the value of an initializer, a session constant, a
// Constant node's output or an Identity of one of those (exporters share
// equal weights that way), or nil.
func (f *fusion) konst(name string) *tensor.Tensor {
	for _, t := range f.consts {
		if t.Name == name {
			return &t.Tensor
		}
	}
	if t := f.konstOf(name); t != nil {
		return t
	}
	for _, en := range f.nodes {
		if len(en.outputs) != 1 || en.outputs[0] != name {
			continue
		}
		switch o := en.op.(type) {
		case *constantOp:
			return o.t
		case identityOp:
			if len(en.inputs) == 1 && en.inputs[0] != name {
				return f.konst(en.inputs[0])
			}
		}
	}
	return nil
}

// addConst adds a folded weight under a fresh name.
func (f *fusion) addConst(prefix string, t *tensor.Tensor) string {
	name := prefix
	for i := 1; f.names[name]; i++ {
		name = fmt.Sprintf("%s_%d", prefix, i)
	}
	f.names[name] = true
	f.consts = append(f.consts, &graph.Tensor{Name: name, Tensor: *t})
	return name
}

// foldBatchNorm folds an inference BatchNormalization into the Conv that
// feeds it when the Conv's output has no other reader and every weight is
// constant: W'[m] = W[m]·s[m], B'[m] = (B[m] - mean[m])·s[m] + beta[m] with
// s = scale/√(var + ε).
func (f *fusion) foldBatchNorm() {
	uses, prod := f.uses(), f.producers()
	dropped := map[*execNode]bool{}
	for _, bn := range f.nodes {
		bop, ok := bn.op.(*batchNormOp)
		if !ok || len(bn.inputs) < 5 || len(bn.outputs) < 1 {
			continue
		}
		if len(bn.outputs) > 1 && (uses[bn.outputs[1]] > 0 || len(bn.outputs) > 2 && uses[bn.outputs[2]] > 0) {
			continue
		}
		x := bn.inputs[0]
		conv := prod[x]
		if conv == nil || dropped[conv] || uses[x] != 1 || f.outputs[x] || len(conv.outputs) != 1 {
			continue
		}
		cop, ok := conv.op.(*convOp)
		if !ok || cop.fused {
			continue
		}
		w := f.konst(conv.inputs[1])
		var b *tensor.Tensor
		if len(conv.inputs) > 2 && conv.inputs[2] != "" {
			if b = f.konst(conv.inputs[2]); b == nil {
				continue
			}
		}
		var p [4]*tensor.Tensor
		okAll := w != nil && w.DType == tensor.Float && len(w.Shape) > 0
		for i := range p {
			p[i] = f.konst(bn.inputs[i+1])
			okAll = okAll && p[i] != nil && p[i].DType == tensor.Float
		}
		if !okAll {
			continue
		}
		M := w.Shape[0]
		if len(p[0].F32) != M || len(p[1].F32) != M || len(p[2].F32) != M || len(p[3].F32) != M ||
			(b != nil && (b.DType != tensor.Float || len(b.F32) != M)) {
			continue
		}
		per := len(w.F32) / M
		nw := tensor.New(w.Shape...)
		nb := tensor.New(M)
		for m := 0; m < M; m++ {
			s := float64(p[0].F32[m]) / math.Sqrt(float64(p[3].F32[m])+float64(bop.eps))
			for i := 0; i < per; i++ {
				nw.F32[m*per+i] = float32(float64(w.F32[m*per+i]) * s)
			}
			bias := 0.0
			if b != nil {
				bias = float64(b.F32[m])
			}
			nb.F32[m] = float32((bias-float64(p[2].F32[m]))*s + float64(p[1].F32[m]))
		}
		conv.inputs = []string{conv.inputs[0], f.addConst(conv.inputs[1]+"/bnfold", nw), f.addConst(bn.outputs[0]+"/bnfold_bias", nb)}
		conv.outputs = []string{bn.outputs[0]}
		dropped[bn] = true
	}
	f.drop(dropped)
}

// fuseActivations folds an activation (Relu, Clip, LeakyRelu) into the
// Conv, Gemm or Add that feeds it when the activation is that op's only
// consumer and the op's output is not a graph output. The activation node
// disappears and the producer writes the activation's output.
func (f *fusion) fuseActivations() {
	uses, prod := f.uses(), f.producers()
	dropped := map[*execNode]bool{}
	for _, en := range f.nodes {
		if len(en.inputs) == 0 || len(en.outputs) != 1 {
			continue
		}
		x := en.inputs[0]
		p := prod[x]
		if p == nil || len(p.outputs) != 1 || uses[x] != 1 || f.outputs[x] || dropped[p] {
			continue
		}
		fu, ok := p.op.(fuser)
		if !ok || !fu.fuseAct(en, f.konst) {
			continue
		}
		p.outputs = []string{en.outputs[0]}
		dropped[en] = true
	}
	f.drop(dropped)
}

func (f *fusion) drop(dropped map[*execNode]bool) {
	var out []*execNode
	for _, en := range f.nodes {
		if !dropped[en] {
			out = append(out, en)
		}
	}
	f.nodes = out
}

// fuse runs the fusion passes: batch norms into convolutions, then
// activations into convolutions and GEMMs.
func (s *Session) fuse(g *graph.Graph) {
	f := &fusion{nodes: s.nodes, outputs: map[string]bool{}, names: map[string]bool{},
		consts: append([]*graph.Tensor(nil), s.consts...)}
	for _, o := range s.outputNames {
		f.outputs[o] = true
	}
	for _, t := range g.Initializers {
		f.names[t.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			f.names[o] = true
		}
	}
	f.konstOf = func(string) *tensor.Tensor { return nil } // consts cover initializers
	f.foldBatchNorm()
	f.fuseActivations()
	s.nodes, s.consts = f.nodes, f.consts
}

package runtime

import "github.com/podaml/poda/tensor"

// fuser is implemented by ops that can absorb the activation that follows
// them (Conv, Gemm): fuseAct reports whether it took act's node over.
type fuser interface {
	fuseAct(act *execNode, konst func(string) *tensor.Tensor) bool
}

// fuse folds an activation (Relu, Clip, LeakyRelu) into the Conv or Gemm
// that feeds it when the activation is that op's only consumer and the
// op's output is not a graph output. The activation node disappears and
// the producer writes the activation's output.
func fuse(nodes []*execNode, outputs []string, konst func(string) *tensor.Tensor) []*execNode {
	isOut := map[string]bool{}
	for _, o := range outputs {
		isOut[o] = true
	}
	uses := map[string]int{}
	for _, en := range nodes {
		for _, in := range en.inputs {
			uses[in]++
		}
	}
	prod := map[string]*execNode{}
	for _, en := range nodes {
		for _, o := range en.outputs {
			prod[o] = en
		}
	}
	var out []*execNode
	dropped := map[*execNode]bool{}
	for _, en := range nodes {
		if len(en.inputs) == 0 || len(en.outputs) != 1 {
			continue
		}
		x := en.inputs[0]
		p := prod[x]
		if p == nil || len(p.outputs) != 1 || uses[x] != 1 || isOut[x] || dropped[p] {
			continue
		}
		f, ok := p.op.(fuser)
		if !ok || !f.fuseAct(en, konst) {
			continue
		}
		p.outputs = []string{en.outputs[0]}
		dropped[en] = true
	}
	for _, en := range nodes {
		if !dropped[en] {
			out = append(out, en)
		}
	}
	return out
}

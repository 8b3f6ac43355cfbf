package prune

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime"
	"github.com/podaml/poda/tensor"
)

// Block is a removable span of the graph: everything that computes Output
// from Input alone, with Input and Output of the same shape and a residual
// Add inside whose skip operand is Input. Bypassing it makes Output's
// consumers read Input; the dead branch is then dropped.
type Block struct {
	// Name is the residual Add's node name (Kind "residual"), or
	// "layer:" + the first Add's name for a transformer layer made of an
	// attention sublayer and the feed-forward sublayer after it.
	Name   string `json:"name"`
	Kind   string `json:"kind"`
	Input  string `json:"input"`
	Output string `json:"output"`
	// Nodes are the names (or first outputs) of the nodes in the span.
	Nodes []string `json:"nodes"`
	// Params counts the float initializer elements only this span reads.
	Params int64 `json:"params"`

	nodes map[*graph.Node]bool
}

// DepthOptions configures RemoveBlocks.
type DepthOptions struct {
	// K is the number of blocks to remove (the K least important,
	// non-overlapping).
	K int
	// Blocks, when set, names exactly the blocks to remove; K, Score and
	// Calibration are then ignored.
	Blocks []string
	// Calibration inputs (graph input name → tensor) for the default
	// importance: how much the model's outputs change when the block alone
	// is bypassed (mean squared change over all outputs and inputs,
	// divided by the outputs' mean square), computed with the runtime.
	Calibration []map[string]*tensor.Tensor
	// Score, when set, replaces the default importance: it gets a copy of
	// the model with the block bypassed and the block; lower scores are
	// removed first.
	Score func(bypassed *graph.Model, b Block) (float64, error)
}

// BlockReport is one candidate of RemoveBlocks.
type BlockReport struct {
	Block
	Score   float64 `json:"score"`
	Removed bool    `json:"removed"`
}

// DepthReport is the outcome of RemoveBlocks.
type DepthReport struct {
	Candidates   []BlockReport `json:"candidates"`
	ParamsBefore int64         `json:"params_before"`
	ParamsAfter  int64         `json:"params_after"`
}

// FindBlocks lists the residual blocks and transformer layers of m, in
// graph order. It finds the cut values (values every path from the inputs
// to the outputs passes through, ignoring shape computations and
// constants); consecutive cuts with equal shapes whose span holds an Add
// reading the first cut are residual blocks, and an attention block (one
// with a Softmax) followed by a residual block without one is also offered
// as a layer.
func FindBlocks(m *graph.Model) ([]Block, error) {
	g := m.Graph
	shapes, err := graph.InferShapes(m, nil)
	if err != nil {
		return nil, fmt.Errorf("finding blocks: %w", err)
	}
	meta := metaValues(g)
	last := map[string]int{}
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			last[in] = i
		}
	}
	for _, o := range g.Outputs {
		last[o.Name] = len(g.Nodes)
	}
	live := map[string]bool{}
	for _, v := range g.RealInputs() {
		if _, used := last[v.Name]; used {
			live[v.Name] = true
		}
	}
	type cut struct {
		value string
		pos   int // index of the producing node; -1 for a graph input
	}
	var cuts []cut
	if len(live) == 1 {
		for v := range live {
			cuts = append(cuts, cut{v, -1})
		}
	}
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			if last[in] == i {
				delete(live, in)
			}
		}
		for _, o := range n.Outputs {
			if o != "" && !meta[o] && last[o] > i {
				live[o] = true
			}
		}
		if len(live) == 1 {
			for v := range live {
				if len(cuts) == 0 || cuts[len(cuts)-1].value != v {
					cuts = append(cuts, cut{v, i})
				}
			}
		}
	}
	var blocks []Block
	prevAttn := -1 // index of the attention block the previous span ended
	for k := 0; k+1 < len(cuts); k++ {
		x, z := cuts[k], cuts[k+1]
		if g.IsOutput(z.value) || !sameShape(shapes.Shape(x.value), shapes.Shape(z.value)) {
			prevAttn = -1
			continue
		}
		b := Block{Kind: "residual", Input: x.value, Output: z.value, nodes: map[*graph.Node]bool{}}
		attn, heavy := false, false
		for _, n := range g.Nodes[x.pos+1 : z.pos+1] {
			b.nodes[n] = true
			b.Nodes = append(b.Nodes, depthNodeName(n))
			if n.OpType == "Add" && b.Name == "" && len(n.Inputs) == 2 && (n.Inputs[0] == x.value) != (n.Inputs[1] == x.value) {
				b.Name = depthNodeName(n)
			}
			switch n.OpType {
			case "Softmax":
				attn = true
			case "Conv", "ConvTranspose", "Gemm", "MatMul":
				heavy = true
			}
		}
		if b.Name == "" {
			// A pointwise tail after a residual Add (the ReLU of a ResNet
			// block, the LayerNorm of a post-LN transformer) belongs to
			// the blocks that end where it starts.
			extended := false
			for i := range blocks {
				if blocks[i].Output == x.value && !heavy {
					blocks[i].Output = z.value
					for n := range b.nodes {
						blocks[i].nodes[n] = true
					}
					blocks[i].Nodes = append(blocks[i].Nodes, b.Nodes...)
					blocks[i].Params = spanParams(g, blocks[i].nodes)
					extended = true
				}
			}
			if !extended {
				prevAttn = -1
			}
			continue
		}
		b.Params = spanParams(g, b.nodes)
		blocks = append(blocks, b)
		if prevAttn >= 0 && !attn && blocks[prevAttn].Output == b.Input {
			pa := blocks[prevAttn]
			l := Block{Name: "layer:" + pa.Name, Kind: "layer", Input: pa.Input, Output: b.Output,
				nodes: map[*graph.Node]bool{}}
			for n := range pa.nodes {
				l.nodes[n] = true
			}
			for n := range b.nodes {
				l.nodes[n] = true
			}
			l.Nodes = append(append([]string(nil), pa.Nodes...), b.Nodes...)
			l.Params = spanParams(g, l.nodes)
			blocks = append(blocks, l)
		}
		prevAttn = -1
		if attn {
			prevAttn = len(blocks) - 1
		}
	}
	return blocks, nil
}

// metaValues are the values computed only from shapes and constants
// (Shape, Size, Constant and what follows from them alone).
func metaValues(g *graph.Graph) map[string]bool {
	meta := map[string]bool{}
	for _, n := range g.Nodes {
		isMeta := n.OpType == "Shape" || n.OpType == "Size" || n.OpType == "Constant"
		if !isMeta && len(n.Inputs) > 0 {
			isMeta = true
			for _, in := range n.Inputs {
				if in != "" && !meta[in] && g.Initializer(in) == nil {
					isMeta = false
					break
				}
			}
		}
		if isMeta {
			for _, o := range n.Outputs {
				meta[o] = true
			}
		}
	}
	return meta
}

func sameShape(a, b graph.Shape) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] || (!a[i].Known() && a[i].Param == "") {
			return false
		}
	}
	return true
}

func depthNodeName(n *graph.Node) string {
	if n.Name != "" {
		return n.Name
	}
	if len(n.Outputs) > 0 {
		return n.Outputs[0]
	}
	return n.OpType
}

// spanParams counts float initializer elements read only by nodes of span.
func spanParams(g *graph.Graph, span map[*graph.Node]bool) int64 {
	var total int64
	for _, t := range g.Initializers {
		if t.DType != tensor.Float {
			continue
		}
		cons := g.Consumers(t.Name)
		only := len(cons) > 0
		for _, c := range cons {
			if !span[c] {
				only = false
				break
			}
		}
		if only {
			total += int64(t.Numel())
		}
	}
	return total
}

// bypass rewires the consumers of b.Output to read b.Input (through the
// replacements of blocks bypassed before) without cleaning up.
func bypass(g *graph.Graph, b Block, repl map[string]string) {
	in := b.Input
	for {
		r, ok := repl[in]
		if !ok {
			break
		}
		in = r
	}
	g.ReplaceUses(b.Output, in)
	repl[b.Output] = in
}

// BypassBlock removes block b from m: its output's consumers read its
// input and the dead nodes and initializers are dropped.
func BypassBlock(m *graph.Model, b Block) error {
	if m.Graph.IsOutput(b.Output) {
		return fmt.Errorf("block %s: its output %q is a graph output", b.Name, b.Output)
	}
	bypass(m.Graph, b, map[string]string{})
	m.Graph.Prune()
	return m.Graph.Check()
}

// RemoveBlocks removes the K least important blocks of m (or the blocks
// opt.Blocks names) and edits m in place; on error m is unchanged. Each
// candidate is scored on its own (bypassed alone); the K lowest that do
// not overlap are removed together.
func RemoveBlocks(ctx context.Context, m *graph.Model, opt DepthOptions) (*DepthReport, error) {
	blocks, err := FindBlocks(m)
	if err != nil {
		return nil, err
	}
	rep := &DepthReport{ParamsBefore: floatParams(m)}
	for _, b := range blocks {
		rep.Candidates = append(rep.Candidates, BlockReport{Block: b, Score: math.NaN()})
	}
	var chosen []int
	if len(opt.Blocks) > 0 {
		for _, name := range opt.Blocks {
			i := slicesIndexFunc(blocks, func(b Block) bool { return b.Name == name })
			if i < 0 {
				return nil, fmt.Errorf("depth pruning: no block %q (candidates: %s)", name, blockNames(blocks))
			}
			chosen = append(chosen, i)
		}
	} else {
		if opt.K < 0 || opt.K > len(blocks) {
			return nil, fmt.Errorf("depth pruning: K = %d with %d candidate blocks", opt.K, len(blocks))
		}
		if opt.K == 0 {
			rep.ParamsAfter = rep.ParamsBefore
			return rep, nil
		}
		score := opt.Score
		if score == nil {
			if len(opt.Calibration) == 0 {
				return nil, errors.New("depth pruning: need calibration inputs or a Score function")
			}
			ref, err := runAll(ctx, m, opt.Calibration)
			if err != nil {
				return nil, fmt.Errorf("depth pruning: running the model: %w", err)
			}
			score = func(bm *graph.Model, _ Block) (float64, error) {
				out, err := runAll(ctx, bm, opt.Calibration)
				if err != nil {
					return 0, err
				}
				return outputChange(ref, out), nil
			}
		}
		order := make([]int, len(blocks))
		for i, b := range blocks {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			c := m.Clone()
			if err := BypassBlock(c, b); err != nil {
				return nil, fmt.Errorf("depth pruning: %w", err)
			}
			s, err := score(c, b)
			if err != nil {
				return nil, fmt.Errorf("depth pruning: scoring block %s: %w", b.Name, err)
			}
			rep.Candidates[i].Score = s
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool { return rep.Candidates[order[i]].Score < rep.Candidates[order[j]].Score })
		for _, i := range order {
			if len(chosen) == opt.K {
				break
			}
			if !overlaps(blocks[i], blocks, chosen) {
				chosen = append(chosen, i)
			}
		}
		if len(chosen) < opt.K {
			return nil, fmt.Errorf("depth pruning: only %d non-overlapping blocks for K = %d", len(chosen), opt.K)
		}
	}
	for _, i := range chosen {
		if overlaps(blocks[i], blocks, without(chosen, i)) {
			return nil, fmt.Errorf("depth pruning: block %s overlaps another chosen block", blocks[i].Name)
		}
	}
	// Bypass in graph order so chains of removed blocks resolve; on a copy,
	// so that m is untouched unless the result checks.
	sort.Ints(chosen)
	c := m.Clone()
	repl := map[string]string{}
	for _, i := range chosen {
		bypass(c.Graph, blocks[i], repl)
		rep.Candidates[i].Removed = true
	}
	c.Graph.Prune()
	if err := c.Graph.Check(); err != nil {
		return nil, fmt.Errorf("depth pruning: %w", err)
	}
	if _, err := graph.InferShapes(c, nil); err != nil {
		return nil, fmt.Errorf("depth pruning produced inconsistent shapes: %w", err)
	}
	*m.Graph = *c.Graph
	m.Graph.Invalidate()
	rep.ParamsAfter = floatParams(m)
	return rep, nil
}

func overlaps(b Block, blocks []Block, chosen []int) bool {
	for _, j := range chosen {
		for n := range b.nodes {
			if blocks[j].nodes[n] {
				return true
			}
		}
	}
	return false
}

func without(s []int, x int) []int {
	var out []int
	for _, v := range s {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

func slicesIndexFunc(bs []Block, f func(Block) bool) int {
	for i, b := range bs {
		if f(b) {
			return i
		}
	}
	return -1
}

func blockNames(bs []Block) string {
	s := ""
	for i, b := range bs {
		if i > 0 {
			s += ", "
		}
		s += b.Name
	}
	return s
}

// runAll runs m on every calibration input and returns the outputs.
func runAll(ctx context.Context, m *graph.Model, cal []map[string]*tensor.Tensor) ([]map[string]*tensor.Tensor, error) {
	s, err := runtime.New(m, runtime.Options{})
	if err != nil {
		return nil, err
	}
	var out []map[string]*tensor.Tensor
	for _, in := range cal {
		o, err := s.Run(ctx, in)
		if err != nil {
			return nil, err
		}
		for k, v := range o {
			o[k] = v.Clone()
		}
		out = append(out, o)
	}
	return out, nil
}

// outputChange is Σ(y'−y)² / Σy² over all float outputs.
func outputChange(ref, got []map[string]*tensor.Tensor) float64 {
	var num, den float64
	for i := range ref {
		for k, r := range ref[i] {
			g := got[i][k]
			if g == nil || len(g.F32) != len(r.F32) {
				return math.Inf(1)
			}
			for j, v := range r.F32 {
				d := float64(g.F32[j]) - float64(v)
				num += d * d
				den += float64(v) * float64(v)
			}
		}
	}
	if den == 0 {
		return num
	}
	return num / den
}

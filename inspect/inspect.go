// Package inspect measures a model: per layer, its parameters, MACs per
// sample, bytes and the fraction of weights that are exactly zero, and the
// totals for the model.
package inspect

import (
	"fmt"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Layer is one weighted layer: a Conv, ConvTranspose, Gemm, MatMul with a
// weight initializer, or BatchNormalization.
type Layer struct {
	Name         string  `json:"name"`          // the node's name (or its first output)
	Op           string  `json:"op"`            // the ONNX op type
	Weight       string  `json:"weight"`        // the weight initializer's name
	WeightShape  []int   `json:"weight_shape"`  // its dims
	Params       int64   `json:"params"`        // elements of the layer's float initializers (weight, bias, BN scale/shift)
	MACs         int64   `json:"macs"`          // multiply-accumulates per sample at the model's input shape
	Bytes        int64   `json:"bytes"`         // bytes of the layer's initializers, stored densely
	ZeroFraction float64 `json:"zero_fraction"` // fraction of the weight's elements that are exactly zero
}

// Report describes a whole model.
type Report struct {
	Params       int64            `json:"params"`        // float initializer elements, BN running statistics excluded
	MACs         int64            `json:"macs"`          // multiply-accumulates per sample: layers plus activation×activation MatMuls
	Bytes        int64            `json:"bytes"`         // bytes of all initializers, stored densely
	ZeroFraction float64          `json:"zero_fraction"` // fraction of the counted params that are exactly zero
	FileSize     int64            `json:"file_size"`     // bytes of the model file(s) on disk (0 if not loaded from disk)
	InputShapes  map[string][]int `json:"input_shapes"`  // the per-sample input shapes MACs were computed at
	Layers       []Layer          `json:"layers"`
	// Notes lists what inspection could not determine (unknown shapes).
	Notes []string `json:"notes,omitempty"`
}

// Options adjust inspection.
type Options struct {
	// InputShapes overrides the shapes of graph inputs. By default every
	// symbolic or unknown dimension (the batch) is taken as 1.
	InputShapes map[string][]int
}

// Model inspects m.
func Model(m *graph.Model, opt Options) (*Report, error) {
	g := m.Graph
	overrides := map[string]graph.Shape{}
	r := &Report{FileSize: m.FileSize(), InputShapes: map[string][]int{}}
	for _, v := range g.RealInputs() {
		if s, ok := opt.InputShapes[v.Name]; ok {
			overrides[v.Name] = graph.ShapeOf(s...)
			r.InputShapes[v.Name] = s
			continue
		}
		if v.Shape == nil {
			r.Notes = append(r.Notes, fmt.Sprintf("input %q has no declared shape", v.Name))
			continue
		}
		dims := make([]int, len(v.Shape))
		for i, d := range v.Shape {
			if d.Known() {
				dims[i] = int(d.Value)
			} else {
				dims[i] = 1
			}
		}
		overrides[v.Name] = graph.ShapeOf(dims...)
		r.InputShapes[v.Name] = dims
	}
	shapes, err := graph.InferShapes(m, overrides)
	if err != nil {
		return nil, err
	}
	stats := map[string]bool{} // BN running statistics
	for _, n := range g.Nodes {
		if n.OpType == "BatchNormalization" {
			stats[n.Input(3)], stats[n.Input(4)] = true, true
		}
	}
	var zeros int64
	for _, t := range g.Initializers {
		r.Bytes += t.Bytes()
		if !t.DType.IsFloat() || stats[t.Name] {
			continue
		}
		r.Params += int64(t.Numel())
		zeros += countZeros(&t.Tensor)
	}
	if r.Params > 0 {
		r.ZeroFraction = float64(zeros) / float64(r.Params)
	}
	for _, n := range g.Nodes {
		l, ok, err := layer(g, shapes, n)
		if err != nil {
			return nil, err
		}
		if ok {
			if l.MACs < 0 {
				l.MACs = 0
				r.Notes = append(r.Notes, fmt.Sprintf("%s: shapes unknown, MACs not counted", n))
			}
			r.Layers = append(r.Layers, l)
			r.MACs += l.MACs
			continue
		}
		if n.OpType == "MatMul" {
			// Activation × activation (attention scores and mixing).
			if macs, ok := matmulMACs(shapes.Shape(n.Input(0)), shapes.Shape(n.Input(1))); ok {
				r.MACs += macs
			}
		}
	}
	return r, nil
}

func countZeros(t *tensor.Tensor) int64 {
	var z int64
	for _, v := range t.F32 {
		if v == 0 {
			z++
		}
	}
	return z
}

// layer describes n if it is a weighted layer; MACs is -1 when the shapes
// needed to count them are unknown.
func layer(g *graph.Graph, shapes graph.Shapes, n *graph.Node) (Layer, bool, error) {
	var wname string
	switch n.OpType {
	case "Conv", "ConvTranspose", "Gemm", "BatchNormalization":
		wname = n.Input(1)
	case "MatMul":
		switch {
		case g.Initializer(n.Input(1)) != nil:
			wname = n.Input(1)
		case g.Initializer(n.Input(0)) != nil:
			wname = n.Input(0)
		}
	default:
		return Layer{}, false, nil
	}
	w := g.Initializer(wname)
	if w == nil || !w.DType.IsFloat() {
		return Layer{}, false, nil
	}
	name := n.Name
	if name == "" {
		name = n.Outputs[0]
	}
	l := Layer{Name: name, Op: n.OpType, Weight: wname, WeightShape: append([]int(nil), w.Shape...),
		ZeroFraction: w.ZeroFraction()}
	params := []string{wname}
	switch n.OpType {
	case "Conv", "ConvTranspose":
		params = append(params, n.Input(2))
	case "Gemm":
		params = append(params, n.Input(2))
	case "BatchNormalization":
		params = append(params, n.Input(2), n.Input(3), n.Input(4))
	}
	for i, p := range params {
		if t := g.Initializer(p); t != nil {
			l.Bytes += t.Bytes()
			if n.OpType == "BatchNormalization" && i >= 2 {
				continue // running statistics are not parameters
			}
			l.Params += int64(t.Numel())
		}
	}
	out, _ := shapes.Shape(n.Outputs[0]).Ints()
	in, _ := shapes.Shape(n.Input(0)).Ints()
	switch n.OpType {
	case "Conv":
		if out == nil || len(w.Shape) < 3 {
			l.MACs = -1
			break
		}
		// out_h·out_w·C_out·(C_in/groups)·k_h·k_w, per sample.
		l.MACs = int64(tensor.Prod(out[1:])) * int64(tensor.Prod(w.Shape[1:]))
	case "ConvTranspose":
		if in == nil || len(w.Shape) < 3 {
			l.MACs = -1
			break
		}
		// Every input pixel scatters C_out/groups·k_h·k_w products.
		l.MACs = int64(tensor.Prod(in[1:])) * int64(tensor.Prod(w.Shape[1:]))
	case "Gemm":
		if len(w.Shape) != 2 {
			l.MACs = -1
			break
		}
		l.MACs = int64(w.Shape[0]) * int64(w.Shape[1]) // K·N per sample row
	case "MatMul":
		a, b := shapes.Shape(n.Input(0)), shapes.Shape(n.Input(1))
		macs, ok := matmulMACs(a, b)
		l.MACs = macs
		if !ok {
			l.MACs = -1
		}
	case "BatchNormalization":
		if out == nil {
			l.MACs = -1
			break
		}
		l.MACs = int64(tensor.Prod(out[1:])) // one multiply-add per element
	}
	return l, true, nil
}

// matmulMACs is rows·K·N for a MatMul at batch 1 (the batch dim has been
// set to 1 by the caller's input shapes).
func matmulMACs(a, b graph.Shape) (int64, bool) {
	as, ok1 := a.Ints()
	bs, ok2 := b.Ints()
	if !ok1 || !ok2 || len(as) == 0 || len(bs) == 0 {
		return 0, false
	}
	k := as[len(as)-1]
	n := 1
	if len(bs) >= 2 {
		n = bs[len(bs)-1]
	}
	rows := tensor.Prod(as[:len(as)-1])
	batchB := 1
	if len(bs) > 2 && len(as) <= 2 {
		batchB = tensor.Prod(bs[:len(bs)-2])
	}
	return int64(rows) * int64(k) * int64(n) * int64(batchB), true
}

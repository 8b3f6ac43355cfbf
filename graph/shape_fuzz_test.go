package graph

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

var shapeFuzzLimits = onnx.Limits{
	MaxProtoBytes:  1 << 20,
	MaxTensorBytes: 1 << 20,
	MaxTotalBytes:  4 << 20,
	MaxRank:        8,
	MaxTensors:     256,
	MaxNodes:       256,
	MaxDepth:       4,
}

// FuzzShapeInference decodes a fuzzed model and runs shape inference on
// it: no panic, whatever the model says. Seeds are programs of every op
// InferShapes knows (see shapeProgram) and the small node models of
// libonnx-testdata when present.
func FuzzShapeInference(f *testing.F) {
	for _, prog := range shapeSeedPrograms() {
		m := shapeProgram(prog)
		p, err := m.Proto()
		if err != nil {
			f.Fatal(err)
		}
		b, err := onnx.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	nodes, _ := filepath.Glob("/usr/share/libonnx-testdata/data/node/test_*/model.onnx")
	for i, p := range nodes {
		if i%8 != 0 {
			continue
		}
		if b, err := os.ReadFile(p); err == nil && len(b) < 4096 {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pm, err := onnx.Decode(data, "fuzz.onnx", shapeFuzzLimits)
		if err != nil {
			return
		}
		m, err := FromProto(pm)
		if err != nil {
			return
		}
		_, _ = InferShapes(m, nil)
	})
}

// FuzzShapeOps builds graphs directly from the fuzzer's bytes, one op at
// a time with fuzzed inputs and attributes, and runs shape inference: a
// far denser search of InferShapes than mutating protobuf bytes. It must
// not panic, and what it infers must stay small.
func FuzzShapeOps(f *testing.F) {
	for _, prog := range shapeSeedPrograms() {
		f.Add(prog)
	}
	f.Fuzz(func(t *testing.T, prog []byte) {
		m := shapeProgram(prog)
		s, _ := InferShapes(m, nil)
		for name, info := range s {
			if info != nil && (len(info.Shape) > 1<<12 || len(info.Value) > 1<<12) {
				t.Fatalf("%s: inferred rank %d with %d values", name, len(info.Shape), len(info.Value))
			}
		}
	})
}

// shapeOps are the ops the program bytes choose from.
var shapeOps = []string{
	"Relu", "Identity", "Dropout", "Not", "Add", "Mul", "Sub", "Div", "Where", "Equal", "Max",
	"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "Gemm", "MatMul",
	"Flatten", "Reshape", "Transpose", "Shape", "Size", "Constant", "ConstantOfShape", "Cast",
	"Concat", "Split", "Slice", "Squeeze", "Unsqueeze", "Gather", "Expand", "ReduceMean",
	"ReduceSum", "ArgMax", "Pad", "Resize", "Range", "Tile", "Unknown",
}

type progReader struct{ b []byte }

func (r *progReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// small returns a value in [-2, 13]: mostly the small non-negative sizes
// and axes shapes use, sometimes negative.
func (r *progReader) small() int64 { return int64(r.byte()%16) - 2 }

func (r *progReader) ints() []int64 {
	n := int(r.byte() % 6)
	out := make([]int64, n)
	for i := range out {
		out[i] = r.small()
	}
	return out
}

// shapeProgram turns bytes into a model: a header picks the opset and
// the inputs, then every 4+ bytes add one node.
func shapeProgram(prog []byte) *Model {
	r := &progReader{b: prog}
	opset := int64(9)
	if r.byte()%2 == 1 {
		opset = 13
	}
	g := &Graph{Name: "fuzz"}
	var names []string
	for i := range int(r.byte()%3) + 1 {
		rank := int(r.byte() % 5)
		sh := make(Shape, rank)
		for d := range sh {
			switch c := r.byte(); {
			case c < 32:
				sh[d] = Sym(fmt.Sprintf("s%d", c%4))
			case c < 40:
				sh[d] = Unknown
			default:
				sh[d] = Size(int64(c % 9))
			}
		}
		name := fmt.Sprintf("in%d", i)
		g.Inputs = append(g.Inputs, &Value{Name: name, DType: tensor.Float, Shape: sh})
		names = append(names, name)
	}
	for i := range int(r.byte()%4) + 1 {
		vals := r.ints()
		name := fmt.Sprintf("k%d", i)
		g.Initializers = append(g.Initializers, &Tensor{Name: name, Tensor: *tensor.FromInt64(vals, len(vals))})
		names = append(names, name)
	}
	for k := 0; len(r.b) > 0 && k < 64; k++ {
		op := shapeOps[int(r.byte())%len(shapeOps)]
		n := &Node{Name: fmt.Sprintf("n%d", k), OpType: op}
		for range int(r.byte() % 6) {
			c := r.byte()
			if c == 255 {
				n.Inputs = append(n.Inputs, "")
			} else {
				n.Inputs = append(n.Inputs, names[int(c)%len(names)])
			}
		}
		outs := 1 + int(r.byte()%3)
		for o := range outs {
			name := fmt.Sprintf("v%d_%d", k, o)
			n.Outputs = append(n.Outputs, name)
			names = append(names, name)
		}
		for mask := r.byte(); mask != 0; mask &= mask - 1 {
			switch bit := mask & -mask; bit {
			case 1:
				n.SetInt("axis", r.small())
			case 2:
				n.SetInts("perm", r.ints())
			case 4:
				n.SetInts("kernel_shape", r.ints())
				n.SetInts("strides", r.ints())
			case 8:
				n.SetInts("pads", r.ints())
				n.SetInts("dilations", r.ints())
			case 16:
				n.SetInts("axes", r.ints())
				n.SetInt("keepdims", r.small())
			case 32:
				n.SetInts("split", r.ints())
				n.SetInts("starts", r.ints())
				n.SetInts("ends", r.ints())
			case 64:
				n.SetInt("group", r.small())
				n.SetInt("transA", r.small())
				n.SetInt("transB", r.small())
				n.SetInt("to", r.small())
				n.SetInt("allowzero", r.small())
				n.SetInts("output_shape", r.ints())
				n.SetInts("output_padding", r.ints())
			case 128:
				switch r.byte() % 5 {
				case 0:
					n.SetInts("value_ints", r.ints())
				case 1:
					n.SetInt("value_int", r.small())
				case 2:
					n.SetFloat("value_float", 1)
				case 3:
					vals := r.ints()
					n.SetTensor("value", tensor.FromInt64(vals, len(vals)))
				case 4:
					n.Attrs = append(n.Attrs, &pb.AttributeProto{Name: proto.String("auto_pad"), Type: pb.AttributeProto_STRING.Enum(),
						S: []byte([]string{"SAME_UPPER", "SAME_LOWER", "VALID", "NOTSET"}[r.byte()%4])})
				}
				n.SetInt("ceil_mode", r.small())
				n.SetInt("noop_with_empty_axes", r.small())
				n.SetInt("start", r.small())
				n.SetInt("end", r.small())
			}
		}
		g.Nodes = append(g.Nodes, n)
	}
	return &Model{IRVersion: 8, Opsets: []Opset{{Domain: "", Version: opset}}, Graph: g}
}

// shapeSeedPrograms start the fuzzers on each op with plausible shapes.
func shapeSeedPrograms() [][]byte {
	var seeds [][]byte
	for i := range shapeOps {
		// opset 13; two inputs of rank 4 [s0 3 8 8] and rank 2 [2 3];
		// one int64 initializer [1 -1]; then op i over (in0, in1, k0).
		seeds = append(seeds, []byte{1, 1, 4, 0, 43, 48, 48, 2, 42, 43, 0, 2, 5, 3,
			byte(i), 3, 0, 1, 2, 0, 0xff, 5, 3, 2, 3, 3, 1, 1, 2, 3, 1, 1})
	}
	// A shape computation: Shape → Gather → Concat → Reshape.
	seeds = append(seeds, []byte{1, 0, 3, 43, 44, 45, 0, 2, 4, 3,
		21, 1, 0, 0, 0,
		31, 2, 3, 1, 0, 0,
		30, 2, 4, 1, 0, 0,
		19, 2, 0, 5, 0, 0})
	return seeds
}

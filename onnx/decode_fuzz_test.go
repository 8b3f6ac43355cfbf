package onnx_test

import (
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// fuzzLimits keep every accepted model small, so that a fuzzed model
// cannot make the target allocate much whatever it declares.
var fuzzLimits = onnx.Limits{
	MaxProtoBytes:  1 << 20,
	MaxTensorBytes: 1 << 20,
	MaxTotalBytes:  4 << 20,
	MaxRank:        8,
	MaxTensors:     256,
	MaxNodes:       256,
	MaxDepth:       4,
}

func decodeSeeds() [][]byte {
	var seeds [][]byte
	add := func(m *pb.ModelProto) {
		b, err := onnx.Marshal(m)
		if err != nil {
			panic(err)
		}
		seeds = append(seeds, b)
	}
	add(onnx.GemmModel())
	add(onnx.ConstModel())
	add(onnx.SparseModel())
	add(onnx.WithFunction(onnx.GemmModel()))
	coords := onnx.SparseModel()
	sp := coords.Graph.SparseInitializer[0]
	sp.Indices = &pb.TensorProto{DataType: proto.Int32(7), Dims: []int64{2, 2}, Int64Data: []int64{0, 1, 1, 2}}
	add(coords)
	ext := onnx.GemmModel()
	onnx.Externalize(ext.Graph.Initializer[0], "location", "w.bin")
	add(ext)
	typed := onnx.GemmModel()
	for _, dt := range []int32{2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 14, 15, 16} {
		typed.Graph.Initializer = append(typed.Graph.Initializer, &pb.TensorProto{Name: proto.String("t" + string(rune('a'+dt))), DataType: proto.Int32(dt), Dims: []int64{1}, RawData: make([]byte, 16)[:tensorSize(dt)]})
	}
	typed.Graph.Initializer = append(typed.Graph.Initializer, &pb.TensorProto{Name: proto.String("s"), DataType: proto.Int32(8), Dims: []int64{2}, StringData: [][]byte{[]byte("a"), nil}})
	typed.Graph.Initializer = append(typed.Graph.Initializer, &pb.TensorProto{Name: proto.String("i32"), DataType: proto.Int32(6), Dims: []int64{2}, Int32Data: []int32{1, -1}})
	typed.Graph.Initializer = append(typed.Graph.Initializer, &pb.TensorProto{Name: proto.String("c64"), DataType: proto.Int32(14), Dims: []int64{1}, FloatData: []float32{1, 2}})
	add(typed)
	edge := onnx.GemmModel()
	edge.Graph.Initializer = append(edge.Graph.Initializer,
		&pb.TensorProto{Name: proto.String("empty"), DataType: proto.Int32(1), Dims: []int64{0, 3}},
		&pb.TensorProto{Name: proto.String("scalar"), DataType: proto.Int32(7), Int64Data: []int64{-5}},
		&pb.TensorProto{Name: proto.String("emptystr"), DataType: proto.Int32(8), Dims: []int64{0}},
		&pb.TensorProto{Name: proto.String("u64"), DataType: proto.Int32(13), Dims: []int64{2}, Uint64Data: []uint64{1, 1 << 63}},
		&pb.TensorProto{Name: proto.String("c128"), DataType: proto.Int32(15), Dims: []int64{1}, DoubleData: []float64{1, 2}},
		&pb.TensorProto{Name: proto.String("f16"), DataType: proto.Int32(10), Dims: []int64{2}, Int32Data: []int32{0x3c00, 0xffff}})
	edge.Graph.SparseInitializer = append(edge.Graph.SparseInitializer,
		&pb.SparseTensorProto{Values: &pb.TensorProto{Name: proto.String("sp0"), DataType: proto.Int32(1), Dims: []int64{0}},
			Indices: &pb.TensorProto{DataType: proto.Int32(7), Dims: []int64{0}}, Dims: []int64{4}},
		&pb.SparseTensorProto{Values: &pb.TensorProto{Name: proto.String("spscalar"), DataType: proto.Int32(1), Dims: []int64{1}, FloatData: []float32{3}},
			Indices: &pb.TensorProto{DataType: proto.Int32(7), Dims: []int64{1, 0}}},
	)
	add(edge)
	sparseInt := onnx.GemmModel()
	sparseInt.Graph.SparseInitializer = append(sparseInt.Graph.SparseInitializer,
		&pb.SparseTensorProto{Values: &pb.TensorProto{Name: proto.String("spi64"), DataType: proto.Int32(7), Dims: []int64{1}, Int64Data: []int64{3}},
			Indices: &pb.TensorProto{DataType: proto.Int32(7), Dims: []int64{1}, Int64Data: []int64{2}}, Dims: []int64{4}})
	add(sparseInt)
	seeds = append(seeds, onnx.NestBytes(3), onnx.NestBytes(300), nil, []byte{0x08, 0x08})
	return seeds
}

func tensorSize(dt int32) int {
	switch dt {
	case 2, 3, 9:
		return 1
	case 4, 5, 10, 16:
		return 2
	case 6, 12:
		return 4
	case 15:
		return 16
	}
	return 8
}

// FuzzONNXDecode decodes fuzzed bytes with small limits. It must never
// panic; every error must be an *onnx.Error; a model it accepts must stay
// within the limits, convert to Poda's IR without panicking, and (if the
// IR takes it) re-encode into a model that decodes again.
func FuzzONNXDecode(f *testing.F) {
	for _, s := range decodeSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := onnx.Decode(data, "fuzz.onnx", fuzzLimits)
		if err != nil {
			if !onnx.IsError(err) {
				t.Fatalf("error %v is not an *onnx.Error", err)
			}
			return
		}
		// A validated model re-encodes into a model that validates.
		b, err := onnx.Marshal(m)
		if err != nil {
			t.Fatalf("Marshal of a validated model: %v", err)
		}
		if _, err := onnx.Decode(b, "again.onnx", fuzzLimits); err != nil {
			t.Fatalf("re-encoded model is refused: %v", err)
		}
		// Nothing it holds is larger than the budget allowed.
		var total int64
		onnx.ForEachTensor(m, func(where string, t *pb.TensorProto) bool {
			total += int64(len(t.RawData)) + 4*int64(len(t.FloatData)+len(t.Int32Data)) +
				8*int64(len(t.Int64Data)+len(t.DoubleData)+len(t.Uint64Data))
			return true
		})
		if total > fuzzLimits.MaxTotalBytes {
			t.Fatalf("accepted %d bytes of tensor data, over the %d budget", total, fuzzLimits.MaxTotalBytes)
		}
		g, err := graph.FromProto(m)
		if err != nil {
			return
		}
		enc, err := g.Encode()
		if err != nil {
			return
		}
		if _, err := onnx.Decode(enc, "ir.onnx", fuzzLimits); err != nil {
			t.Fatalf("the IR encodes an accepted model into one that is refused: %v", err)
		}
		_, _ = graph.InferShapes(g, nil)
	})
}

// The model seeds (all but the external one and the raw-byte ones) are
// valid, and the IR takes all but the int64 sparse one, so the fuzz target
// starts from inputs that reach graph.FromProto and InferShapes.
func TestDecodeSeedsReachTheIR(t *testing.T) {
	seeds := decodeSeeds()
	for i, s := range seeds[:9] {
		m, err := onnx.Decode(s, "seed", fuzzLimits)
		if i == 5 {
			if err == nil {
				t.Error("the external-data seed was accepted by Decode")
			}
			continue
		}
		if err != nil {
			t.Errorf("seed %d refused: %v", i, err)
			continue
		}
		g, err := graph.FromProto(m)
		if i == 8 {
			if err == nil {
				t.Error("int64 sparse initializer accepted by the IR")
			}
			continue
		}
		if err != nil {
			t.Errorf("seed %d: FromProto: %v", i, err)
			continue
		}
		enc, err := g.Encode()
		if err != nil {
			t.Errorf("seed %d: Encode: %v", i, err)
			continue
		}
		if _, err := onnx.Decode(enc, "ir", fuzzLimits); err != nil {
			t.Errorf("seed %d: IR encoding refused: %v", i, err)
		}
	}
}

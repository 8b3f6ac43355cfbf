package onnx

import (
	"bytes"
	"errors"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// The base models must be accepted: otherwise every rejection below would
// pass for the wrong reason.
func TestBaseModelsAccepted(t *testing.T) {
	for name, m := range map[string]*pb.ModelProto{
		"gemm":     gemmModel(),
		"const":    constModel(),
		"function": withFunction(gemmModel()),
		"sparse":   sparseModel(),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			p := writeModel(t, dir, "m.onnx", m)
			f, err := ReadFile(p, Limits{})
			if err != nil {
				t.Fatalf("ReadFile: %v", err)
			}
			if !proto.Equal(f.Model, m) {
				t.Error("model read back differs from the one written")
			}
			if _, err := Decode(mustMarshal(t, m), "mem", Limits{}); err != nil {
				t.Fatalf("Decode: %v", err)
			}
		})
	}
}

// An external-data version of gemmModel: W's 24 bytes live in dir/w.bin.
func TestExternalDataAccepted(t *testing.T) {
	dir := t.TempDir()
	m := gemmModel()
	w := m.Graph.Initializer[0]
	data := append([]byte("pad!"), w.RawData...)
	externalize(w, "location", "sub/w.bin", "offset", "4", "length", "24")
	writeBytes(t, filepath.Join(dir, "sub", "w.bin"), data)
	p := writeModel(t, dir, "m.onnx", m)
	f, err := ReadFile(p, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := f.Model.Graph.Initializer[0]
	if !bytes.Equal(got.RawData, f32raw(1, 2, 3, 4, 5, 6)) || got.DataLocation != nil || got.ExternalData != nil {
		t.Errorf("external tensor not loaded inline: %v", got)
	}
	if len(f.DataFiles) != 1 || f.DataFiles[0] != filepath.Join(dir, "sub", "w.bin") {
		t.Errorf("DataFiles = %v", f.DataFiles)
	}
	if len(f.Sources()) != 2 {
		t.Errorf("Sources = %v", f.Sources())
	}
}

type rejectCase struct {
	name   string
	base   func() *pb.ModelProto // default gemmModel
	mutate func(t *testing.T, dir string, m *pb.ModelProto)
	lim    Limits
	files  bool     // the case depends on files beside the model
	want   []string // substrings of the error besides the file name
}

// extW makes W external with the given entries and writes its 24 bytes to
// dir/w.bin.
func extW(kv ...string) func(t *testing.T, dir string, m *pb.ModelProto) {
	return func(t *testing.T, dir string, m *pb.ModelProto) {
		w := m.Graph.Initializer[0]
		writeBytes(t, filepath.Join(dir, "w.bin"), w.RawData)
		externalize(w, kv...)
	}
}

func externalCases() []rejectCase {
	W := `tensor "W"`
	return []rejectCase{
		// §A.1: the location itself.
		{name: "location absolute", mutate: extW("location", "/etc/passwd"), want: []string{W, "is absolute"}},
		{name: "location absolute to w.bin", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", filepath.Join(dir, "w.bin"))(t, dir, m)
		}, want: []string{W, "is absolute"}},
		{name: "location empty", mutate: extW("location", ""), want: []string{W, "is empty"}},
		{name: "location leading dotdot", mutate: extW("location", "../w.bin"), want: []string{W, "'..'"}},
		{name: "location inner dotdot", mutate: extW("location", "a/../../x"), want: []string{W, "'..'"}},
		{name: "location dotdot that stays inside", mutate: extW("location", "a/../w.bin"), want: []string{W, "'..'"}},
		{name: "location trailing dotdot", mutate: extW("location", "a/.."), want: []string{W, "'..'"}},
		{name: "location backslash", mutate: extW("location", `..\w.bin`), want: []string{W, "backslash"}},
		{name: "location backslash plain", mutate: extW("location", `sub\w.bin`), want: []string{W, "backslash"}},
		{name: "location drive letter", mutate: extW("location", "C:/w.bin"), want: []string{W, "drive letter"}},
		{name: "location drive relative", mutate: extW("location", "c:w.bin"), want: []string{W, "drive letter"}},
		{name: "location NUL", mutate: extW("location", "w.bin\x00.txt"), want: []string{W, "NUL"}},
		{name: "location dot", mutate: extW("location", "."), want: []string{W, "folder itself"}},
		{name: "location missing", mutate: extW("offset", "0"), want: []string{W, "no location"}},

		// §A.2: what the location resolves to.
		{name: "symlink final component", files: true, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "link.bin")(t, dir, m)
			if err := os.Symlink("w.bin", filepath.Join(dir, "link.bin")); err != nil {
				t.Fatal(err)
			}
		}, want: []string{W, "link.bin", "symbolic link"}},
		{name: "symlink to outside file", files: true, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "link.bin")(t, dir, m)
			outside := filepath.Join(t.TempDir(), "secret")
			writeBytes(t, outside, bytes.Repeat([]byte("S"), 24))
			if err := os.Symlink(outside, filepath.Join(dir, "link.bin")); err != nil {
				t.Fatal(err)
			}
		}, want: []string{W, "link.bin", "symbolic link"}},
		{name: "symlink parent directory", files: true, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "sub/w.bin")(t, dir, m)
			real := filepath.Join(dir, "real")
			writeBytes(t, filepath.Join(real, "w.bin"), f32raw(1, 2, 3, 4, 5, 6))
			if err := os.Symlink("real", filepath.Join(dir, "sub")); err != nil {
				t.Fatal(err)
			}
		}, want: []string{W, "sub", "symbolic link"}},
		{name: "symlink parent to outside", files: true, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "sub/w.bin")(t, dir, m)
			outside := t.TempDir()
			writeBytes(t, filepath.Join(outside, "w.bin"), f32raw(1, 2, 3, 4, 5, 6))
			if err := os.Symlink(outside, filepath.Join(dir, "sub")); err != nil {
				t.Fatal(err)
			}
		}, want: []string{W, "sub", "symbolic link"}},
		{name: "hard link", files: true, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "w.bin")(t, dir, m)
			if err := os.Link(filepath.Join(dir, "w.bin"), filepath.Join(t.TempDir(), "other")); err != nil {
				t.Skipf("cannot hard-link across temp dirs: %v", err)
			}
		}, want: []string{W, "w.bin", "hard links"}},
		{name: "hard link inside folder", files: true, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "w.bin")(t, dir, m)
			if err := os.Link(filepath.Join(dir, "w.bin"), filepath.Join(dir, "w2.bin")); err != nil {
				t.Fatal(err)
			}
		}, want: []string{W, "w.bin", "hard links"}},
		{name: "FIFO", files: true, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "fifo")(t, dir, m)
			if err := mkfifo(filepath.Join(dir, "fifo")); err != nil {
				t.Skipf("mkfifo: %v", err)
			}
		}, want: []string{W, "fifo", "not a regular file"}},
		{name: "directory", files: true, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "d")(t, dir, m)
			if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, want: []string{W, `"d"`, "not a regular file"}},
		{name: "file as parent directory", files: true, mutate: extW("location", "w.bin/x"), want: []string{W, "w.bin", "not a directory"}},
		{name: "missing file", files: true, mutate: extW("location", "nope.bin"), want: []string{W, "nope.bin"}},

		// §A.3: the keys and numbers.
		{name: "unknown key", mutate: extW("location", "w.bin", "basepath", "/"), want: []string{W, "unknown key", "basepath"}},
		{name: "duplicate location", mutate: extW("location", "w.bin", "location", "/etc/passwd"), want: []string{W, `"location" appears twice`}},
		{name: "duplicate offset", mutate: extW("location", "w.bin", "offset", "0", "offset", "0"), want: []string{W, `"offset" appears twice`}},
		{name: "duplicate length", mutate: extW("location", "w.bin", "length", "24", "length", "24"), want: []string{W, `"length" appears twice`}},
		{name: "offset not numeric", mutate: extW("location", "w.bin", "offset", "abc"), want: []string{W, "offset", "not a non-negative decimal"}},
		{name: "offset hex", mutate: extW("location", "w.bin", "offset", "0x0"), want: []string{W, "offset", "not a non-negative decimal"}},
		{name: "offset plus sign", mutate: extW("location", "w.bin", "offset", "+0"), want: []string{W, "offset", "not a non-negative decimal"}},
		{name: "offset space", mutate: extW("location", "w.bin", "offset", " 0"), want: []string{W, "offset", "not a non-negative decimal"}},
		{name: "offset negative", mutate: extW("location", "w.bin", "offset", "-8"), want: []string{W, "offset", "not a non-negative decimal"}},
		{name: "offset empty", mutate: extW("location", "w.bin", "offset", ""), want: []string{W, "offset", "is empty"}},
		{name: "offset too big for int64", mutate: extW("location", "w.bin", "offset", "99999999999999999999"), want: []string{W, "offset", "int64"}},
		{name: "length negative", mutate: extW("location", "w.bin", "length", "-24"), want: []string{W, "length", "not a non-negative decimal"}},
		{name: "length not numeric", mutate: extW("location", "w.bin", "length", "24B"), want: []string{W, "length", "not a non-negative decimal"}},
		{name: "offset plus length overflows", mutate: extW("location", "w.bin", "offset", strconv.FormatInt(math.MaxInt64-8, 10), "length", "24"), want: []string{W, "overflows"}},
		{name: "past EOF", files: true, mutate: extW("location", "w.bin", "offset", "8"), want: []string{W, "past the end", "w.bin"}},
		{name: "past EOF far", files: true, mutate: extW("location", "w.bin", "offset", "1000000000000"), want: []string{W, "past the end"}},
		{name: "length smaller than tensor", mutate: extW("location", "w.bin", "length", "20"), want: []string{W, "length 20", "24 bytes"}},
		{name: "length larger than tensor", mutate: extW("location", "w.bin", "length", "28"), want: []string{W, "length 28", "24 bytes"}},
		{name: "external and raw_data", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "w.bin")(t, dir, m)
			m.Graph.Initializer[0].RawData = f32raw(1, 2, 3, 4, 5, 6)
		}, want: []string{W, "also holds inline data"}},
		{name: "external and float_data", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "w.bin")(t, dir, m)
			m.Graph.Initializer[0].FloatData = []float32{1, 2, 3, 4, 5, 6}
		}, want: []string{W, "also holds inline data"}},
		{name: "external_data without EXTERNAL", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			extW("location", "w.bin")(t, dir, m)
			m.Graph.Initializer[0].DataLocation = nil
			m.Graph.Initializer[0].RawData = f32raw(1, 2, 3, 4, 5, 6)
		}, want: []string{W, "data_location is not EXTERNAL"}},
	}
}

// siteCases put a bad tensor at every place a TensorProto can be.
func siteCases() []rejectCase {
	bad := func(t *pb.TensorProto) { t.RawData = t.RawData[:len(t.RawData)-1] }
	abs := func(t *pb.TensorProto) { externalize(t, "location", "/etc/passwd") }
	var cases []rejectCase
	for _, brk := range []struct {
		name string
		f    func(*pb.TensorProto)
		rule string
	}{{"raw_data short", bad, "raw_data has"}, {"absolute location", abs, "is absolute"}} {
		brk := brk
		cases = append(cases,
			rejectCase{name: "initializer " + brk.name, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				brk.f(m.Graph.Initializer[1])
			}, want: []string{`tensor "B"`, brk.rule}},
			rejectCase{name: "sparse values " + brk.name, base: sparseModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				brk.f(m.Graph.SparseInitializer[0].Values)
			}, want: []string{`tensor "S" values`, brk.rule}},
			rejectCase{name: "sparse indices " + brk.name, base: sparseModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				brk.f(m.Graph.SparseInitializer[0].Indices)
			}, want: []string{`tensor "S" indices`, brk.rule}},
			rejectCase{name: "Constant attribute " + brk.name, base: constModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				brk.f(nodeOf(m.Graph, "const").Attribute[0].T)
			}, want: []string{`node "const" (Constant) attribute "value"`, brk.rule}},
			rejectCase{name: "subgraph initializer " + brk.name, base: constModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				brk.f(graphOf(m, "else").Initializer[0])
			}, want: []string{`tensor "else_init"`, brk.rule}},
			rejectCase{name: "subgraph Constant " + brk.name, base: constModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				brk.f(nodeOf(graphOf(m, "then"), "then_const").Attribute[0].T)
			}, want: []string{`node "then_const" (Constant) attribute "value"`, brk.rule}},
			rejectCase{name: "function Constant " + brk.name, base: func() *pb.ModelProto { return withFunction(gemmModel()) }, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				brk.f(m.Functions[0].Node[0].Attribute[0].T)
			}, want: []string{`node "two" (Constant) attribute "value"`, brk.rule}},
			rejectCase{name: "function default attribute " + brk.name, base: func() *pb.ModelProto { return withFunction(gemmModel()) }, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				tp := floatTensor("", []int64{2}, 1, 2)
				m.Functions[0].AttributeProto = append(m.Functions[0].AttributeProto, tensorAttr("scale", tp))
				brk.f(tp)
			}, want: []string{`function "Twice"`, `attribute "scale"`, brk.rule}},
			rejectCase{name: "training initializer " + brk.name, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				tp := floatTensor("lr", []int64{2}, 1, 2)
				m.TrainingInfo = append(m.TrainingInfo, &pb.TrainingInfoProto{Algorithm: &pb.GraphProto{Name: proto.String("algo"), Initializer: []*pb.TensorProto{tp}}})
				brk.f(tp)
			}, want: []string{`tensor "lr"`, brk.rule}},
			rejectCase{name: "training Constant " + brk.name, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
				tp := floatTensor("", []int64{2}, 1, 2)
				m.TrainingInfo = append(m.TrainingInfo, &pb.TrainingInfoProto{Initialization: &pb.GraphProto{Name: proto.String("init"),
					Node: []*pb.NodeProto{node("k", "Constant", nil, []string{"k"}, tensorAttr("value", tp))}}})
				brk.f(tp)
			}, want: []string{`node "k" (Constant) attribute "value"`, brk.rule}},
		)
	}
	return cases
}

func tensorCases() []rejectCase {
	B := `tensor "B"`
	setB := func(f func(b *pb.TensorProto)) func(t *testing.T, dir string, m *pb.ModelProto) {
		return func(t *testing.T, dir string, m *pb.ModelProto) { f(m.Graph.Initializer[1]) }
	}
	S := `tensor "S"`
	setS := func(f func(s *pb.SparseTensorProto)) func(t *testing.T, dir string, m *pb.ModelProto) {
		return func(t *testing.T, dir string, m *pb.ModelProto) { f(m.Graph.SparseInitializer[0]) }
	}
	return []rejectCase{
		// §A.6
		{name: "raw_data too long", mutate: setB(func(b *pb.TensorProto) { b.RawData = append(b.RawData, 0) }), want: []string{B, "raw_data has 13 bytes, want 12"}},
		{name: "raw_data empty", mutate: setB(func(b *pb.TensorProto) { b.RawData = []byte{} }), want: []string{B, "raw_data has 0 bytes, want 12"}},
		{name: "data_type UNDEFINED", mutate: setB(func(b *pb.TensorProto) { b.DataType = proto.Int32(0) }), want: []string{B, "data_type 0", "undefined"}},
		{name: "data_type missing", mutate: setB(func(b *pb.TensorProto) { b.DataType = nil }), want: []string{B, "data_type 0", "undefined"}},
		{name: "data_type unknown", mutate: setB(func(b *pb.TensorProto) { b.DataType = proto.Int32(99) }), want: []string{B, "data_type 99", "unknown"}},
		{name: "data_type negative", mutate: setB(func(b *pb.TensorProto) { b.DataType = proto.Int32(-1) }), want: []string{B, "data_type -1", "unknown"}},
		{name: "data_type float8", mutate: setB(func(b *pb.TensorProto) { b.DataType = proto.Int32(17) }), want: []string{B, "data_type 17", "does not support"}},
		// §A.7
		{name: "negative dim", mutate: setB(func(b *pb.TensorProto) { b.Dims = []int64{-3} }), want: []string{B, "negative"}},
		{name: "negative dims cancel", mutate: setB(func(b *pb.TensorProto) { b.Dims = []int64{-1, -3, 4}; b.RawData = f32raw(make([]float32, 12)...) }), want: []string{B, "negative"}},
		{name: "numel overflow", mutate: setB(func(b *pb.TensorProto) { b.Dims = []int64{1 << 32, 1 << 32} }), want: []string{B, "overflows"}},
		{name: "numel overflow wraps to 12", mutate: setB(func(b *pb.TensorProto) { b.Dims = []int64{3, 1 << 62, 4} }), want: []string{B, "overflows"}},
		{name: "byte size overflow", mutate: setB(func(b *pb.TensorProto) { b.Dims = []int64{1 << 61} }), want: []string{B, "byte size overflows"}},
		{name: "over tensor byte limit", mutate: setB(func(b *pb.TensorProto) { b.Dims = []int64{1 << 40} }), want: []string{B, "over the", "limit for one tensor"}},
		{name: "over configured tensor limit", lim: Limits{MaxTensorBytes: 8}, want: []string{`tensor "W"`, "24 bytes, over the 8-byte limit"}},
		{name: "over total limit", lim: Limits{MaxTotalBytes: 30}, want: []string{B, "over the 30-byte limit"}},
		{name: "rank over limit", lim: Limits{MaxRank: 1}, want: []string{"rank 2, over the limit of 1"}},
		{name: "declared size file cannot back", mutate: setB(func(b *pb.TensorProto) { b.Dims = []int64{1 << 28} }), want: []string{B, "raw_data has 12 bytes, want 1073741824"}},
		{name: "declared size string", mutate: setB(func(b *pb.TensorProto) {
			b.DataType = proto.Int32(int32(pb.TensorProto_STRING))
			b.Dims = []int64{1 << 40}
			b.RawData = nil
			b.StringData = [][]byte{[]byte("x")}
		}), want: []string{B, "string_data has 1 values"}},
		{name: "typed count short", mutate: setB(func(b *pb.TensorProto) { b.RawData = nil; b.FloatData = []float32{1, 2} }), want: []string{B, "float_data has 2 values, want 3"}},
		{name: "typed count long", mutate: setB(func(b *pb.TensorProto) { b.RawData = nil; b.FloatData = []float32{1, 2, 3, 4} }), want: []string{B, "float_data has 4 values, want 3"}},
		{name: "typed wrong field", mutate: setB(func(b *pb.TensorProto) { b.RawData = nil; b.Int64Data = []int64{1, 2, 3} }), want: []string{B, "holds int64_data", "float_data"}},
		{name: "typed two fields", mutate: setB(func(b *pb.TensorProto) {
			b.RawData = nil
			b.FloatData = []float32{1, 2, 3}
			b.Int64Data = []int64{1, 2, 3}
		}), want: []string{B}},
		{name: "raw and typed", mutate: setB(func(b *pb.TensorProto) { b.FloatData = []float32{1, 2, 3} }), want: []string{B, "both raw_data and typed data"}},
		{name: "no data", mutate: setB(func(b *pb.TensorProto) { b.RawData = nil }), want: []string{B, "no data for its 3 elements"}},
		{name: "string raw_data", mutate: setB(func(b *pb.TensorProto) { b.DataType = proto.Int32(int32(pb.TensorProto_STRING)) }), want: []string{B, "string tensors cannot use raw_data"}},
		{name: "complex64 odd float_data", mutate: setB(func(b *pb.TensorProto) {
			b.DataType = proto.Int32(int32(pb.TensorProto_COMPLEX64))
			b.RawData = nil
			b.FloatData = []float32{1, 2, 3}
		}), want: []string{B, "float_data has 3 values, want 6"}},
		{name: "segment", mutate: setB(func(b *pb.TensorProto) {
			b.Segment = &pb.TensorProto_Segment{Begin: proto.Int64(0), End: proto.Int64(1)}
		}), want: []string{B, "segments"}},
		// Sparse (§A.4)
		{name: "sparse index out of range", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Indices.RawData = i64raw(1, 6) }), want: []string{S, "out of range", "6 not in [0,6)"}},
		{name: "sparse index negative", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Indices.RawData = i64raw(-1, 5) }), want: []string{S, "out of range"}},
		{name: "sparse index huge", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Indices.RawData = i64raw(1, math.MaxInt64) }), want: []string{S, "out of range"}},
		{name: "sparse indices unsorted", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Indices.RawData = i64raw(5, 1) }), want: []string{S, "not strictly increasing"}},
		{name: "sparse indices repeated", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Indices.RawData = i64raw(5, 5) }), want: []string{S, "not strictly increasing"}},
		{name: "sparse coords out of range", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) {
			s.Indices = int64Tensor("", []int64{2, 2}, 0, 1, 0, 3) // (0,3) overflows dim 1 into row 1
		}), want: []string{S, "out of range in dim 1"}},
		{name: "sparse coords unsorted", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) {
			s.Indices = int64Tensor("", []int64{2, 2}, 1, 2, 0, 1)
		}), want: []string{S, "not strictly increasing"}},
		{name: "sparse coords typed", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) {
			s.Indices = &pb.TensorProto{DataType: proto.Int32(int32(pb.TensorProto_INT64)), Dims: []int64{2, 2}, Int64Data: []int64{0, 1, 1, 7}}
		}), want: []string{S, "out of range in dim 1"}},
		{name: "sparse indices shape", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Indices = int64Tensor("", []int64{3}, 1, 2, 3) }), want: []string{S, "sparse indices have dims [3]"}},
		{name: "sparse indices int32", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) {
			s.Indices = &pb.TensorProto{DataType: proto.Int32(int32(pb.TensorProto_INT32)), Dims: []int64{2}, Int32Data: []int32{1, 5}}
		}), want: []string{S, "must be int64"}},
		{name: "sparse values 2-D", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Values.Dims = []int64{1, 2} }), want: []string{S, "must be 1-D"}},
		{name: "sparse missing indices", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Indices = nil }), want: []string{S, "lacks values or indices"}},
		{name: "sparse nnz over numel", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Dims = []int64{1} }), want: []string{S}},
		{name: "sparse dense negative", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Dims = []int64{-2, -3} }), want: []string{S, "negative"}},
		{name: "sparse dense bomb", base: sparseModel, mutate: setS(func(s *pb.SparseTensorProto) { s.Dims = []int64{1 << 40, 1 << 20} }), want: []string{S, "over the"}},
	}
}

func graphCases() []rejectCase {
	G := `graph "main"`
	return []rejectCase{
		// §A.9
		{name: "not topological", base: constModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			n := m.Graph.Node
			n[0], n[1] = n[1], n[0]
		}, want: []string{`node "add" (Add)`, `input "C"`, "topological"}},
		{name: "cycle", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node,
				node("a", "Add", []string{"Y", "q"}, []string{"p"}),
				node("b", "Relu", []string{"p"}, []string{"q"}))
		}, want: []string{`node "a" (Add)`, `input "q"`, "cycle"}},
		{name: "self loop", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node, node("a", "Relu", []string{"p"}, []string{"p"}))
		}, want: []string{`node "a" (Relu)`, `input "p"`}},
		{name: "duplicate node outputs", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node, node("again", "Relu", []string{"X"}, []string{"Y"}))
		}, want: []string{`node "again" (Relu)`, `output "Y"`, "more than once"}},
		{name: "node output within one node", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node, node("split", "Split", []string{"X"}, []string{"s", "s"}))
		}, want: []string{`node "split" (Split)`, `output "s"`, "more than once"}},
		{name: "node output overwrites initializer", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node, node("w", "Relu", []string{"X"}, []string{"W"}))
		}, want: []string{`node "w" (Relu)`, `output "W"`, "more than once"}},
		{name: "node output overwrites input", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node, node("x", "Relu", []string{"Y"}, []string{"X"}))
		}, want: []string{`node "x" (Relu)`, `output "X"`, "more than once"}},
		{name: "duplicate initializer", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Initializer = append(m.Graph.Initializer, floatTensor("B", []int64{3}, 1, 1, 1))
		}, want: []string{`tensor "B"`, "used twice"}},
		{name: "initializer shared with sparse", base: sparseModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.SparseInitializer[0].Values.Name = proto.String("W")
		}, want: []string{`tensor "W"`, "used twice"}},
		{name: "empty initializer name", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Initializer[1].Name = proto.String("")
		}, want: []string{G, "initializer with no name"}},
		{name: "missing initializer name", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Initializer[1].Name = nil
		}, want: []string{G, "initializer with no name"}},
		{name: "empty sparse name", base: sparseModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.SparseInitializer[0].Values.Name = nil
		}, want: []string{G, "sparse initializer with no name"}},
		{name: "domain without opset_import", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node[0].Domain = proto.String("com.example")
		}, want: []string{`node "gemm" (Gemm)`, `domain "com.example"`, "opset_import"}},
		{name: "function domain without opset_import", base: func() *pb.ModelProto { return withFunction(gemmModel()) }, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Functions[0].OpsetImport = nil
		}, want: []string{`node "two" (Constant)`, "opset_import"}},
		{name: "subgraph domain without opset_import", base: constModel, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			nodeOf(graphOf(m, "then"), "then_add").Domain = proto.String("x")
		}, want: []string{`node "then_add" (Add)`, `domain "x"`}},
		{name: "ir_version missing", mutate: func(t *testing.T, dir string, m *pb.ModelProto) { m.IrVersion = nil }, want: []string{"model", "ir_version is missing"}},
		{name: "ir_version negative", mutate: func(t *testing.T, dir string, m *pb.ModelProto) { m.IrVersion = proto.Int64(-1) }, want: []string{"ir_version is missing"}},
		{name: "ir_version too new", mutate: func(t *testing.T, dir string, m *pb.ModelProto) { m.IrVersion = proto.Int64(MaxIRVersion + 1) }, want: []string{"model", "ir_version 12 is newer"}},
		{name: "duplicate opset domain", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.OpsetImport = append(m.OpsetImport, &pb.OperatorSetIdProto{Domain: proto.String("ai.onnx"), Version: proto.Int64(13)})
		}, want: []string{"model", `domain "ai.onnx" twice`}},
		{name: "duplicate opset custom domain", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.OpsetImport = append(m.OpsetImport,
				&pb.OperatorSetIdProto{Domain: proto.String("x"), Version: proto.Int64(1)},
				&pb.OperatorSetIdProto{Domain: proto.String("x"), Version: proto.Int64(1)})
		}, want: []string{"model", `domain "x" twice`}},
		{name: "opset version zero", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.OpsetImport[0].Version = proto.Int64(0)
		}, want: []string{"model", "version 0"}},
		{name: "no opset_import", mutate: func(t *testing.T, dir string, m *pb.ModelProto) { m.OpsetImport = nil }, want: []string{"model", "opset_import is empty"}},
		{name: "duplicate metadata_props", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.MetadataProps = []*pb.StringStringEntryProto{
				{Key: proto.String("author"), Value: proto.String("a")},
				{Key: proto.String("author"), Value: proto.String("b")}}
		}, want: []string{"metadata_props", `key "author" appears twice`}},
		{name: "duplicate graph metadata_props", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.MetadataProps = []*pb.StringStringEntryProto{{Key: proto.String("k")}, {Key: proto.String("k")}}
		}, want: []string{G, "metadata_props", `key "k" appears twice`}},
		{name: "no graph", mutate: func(t *testing.T, dir string, m *pb.ModelProto) { m.Graph = nil }, want: []string{"has no graph"}},
		{name: "output not produced", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Output = append(m.Graph.Output, tensorValue("ghost"))
		}, want: []string{G, `output "ghost"`}},
		{name: "empty op_type", mutate: func(t *testing.T, dir string, m *pb.ModelProto) { m.Graph.Node[0].OpType = nil }, want: []string{"gemm", "op_type is empty"}},
		{name: "duplicate attribute", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node[0].Attribute = append(m.Graph.Node[0].Attribute, intAttr("transB", 0))
		}, want: []string{`node "gemm" (Gemm)`, `attribute "transB" appears twice`}},
		{name: "unnamed attribute", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node[0].Attribute = append(m.Graph.Node[0].Attribute, intAttr("", 0))
		}, want: []string{`node "gemm" (Gemm)`, "attribute with no name"}},
		{name: "value_info negative dim", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Input[0] = tensorValue("X", 1, -2)
		}, want: []string{`value "X"`, "negative"}},
		{name: "value_info rank", lim: Limits{MaxRank: 2}, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.ValueInfo = append(m.Graph.ValueInfo, tensorValue("v", 1, 1, 1))
		}, want: []string{`value "v"`, "rank 3, over the limit of 2"}},
		{name: "value_info no name", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.ValueInfo = append(m.Graph.ValueInfo, &pb.ValueInfoProto{})
		}, want: []string{"value_info with no name"}},
		{name: "too many nodes", lim: Limits{MaxNodes: 1}, mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Node = append(m.Graph.Node, node("r", "Relu", []string{"Y"}, []string{"R"}))
		}, want: []string{G, "more than 1 nodes"}},
		{name: "too many tensors", lim: Limits{MaxTensors: 1}, want: []string{`tensor "B"`, "over the limit of 1"}},
		{name: "too many constant tensors", base: constModel, lim: Limits{MaxTensors: 3}, want: []string{`node "then_const" (Constant) attribute "value"`, "over the limit of 3"}},
		// §A.10
		{name: "nesting over limit", base: constModel, lim: Limits{MaxDepth: 1}, want: []string{`graph "`, "nest 2 deep, over the limit of 1"}},
		{name: "nesting over default limit", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph = nestIf(m.Graph, DefaultLimits().MaxDepth)
		}, want: []string{"nest 17 deep, over the limit of 16"}},
		{name: "type nesting", mutate: func(t *testing.T, dir string, m *pb.ModelProto) {
			ty := &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(1)}}}
			for range 40 {
				ty = &pb.TypeProto{Value: &pb.TypeProto_SequenceType{SequenceType: &pb.TypeProto_Sequence{ElemType: ty}}}
			}
			m.Graph.ValueInfo = append(m.Graph.ValueInfo, &pb.ValueInfoProto{Name: proto.String("seq"), Type: ty})
		}, want: []string{`value "seq"`, "type nests deeper"}},
		// §A.11
		{name: "file over MaxProtoBytes", lim: Limits{MaxProtoBytes: 64}, want: []string{"over the 64-byte limit for one protobuf"}},
	}
}

// nestIf wraps g in depth levels of If nodes; the innermost level is g.
func nestIf(g *pb.GraphProto, depth int) *pb.GraphProto {
	for i := range depth {
		name := "level" + strconv.Itoa(i)
		g = &pb.GraphProto{
			Name:        proto.String(name),
			Input:       g.Input,
			Initializer: []*pb.TensorProto{{Name: proto.String(name + "_c"), DataType: proto.Int32(int32(pb.TensorProto_BOOL)), RawData: []byte{1}}},
			Node:        []*pb.NodeProto{node(name+"_if", "If", []string{name + "_c"}, []string{"Y"}, graphAttr("then_branch", g))},
			Output:      g.Output,
		}
	}
	g.Name = proto.String("main")
	return g
}

func TestRejectExternal(t *testing.T) { runReject(t, externalCases()) }
func TestRejectSites(t *testing.T)    { runReject(t, siteCases()) }
func TestRejectTensor(t *testing.T)   { runReject(t, tensorCases()) }
func TestRejectGraph(t *testing.T)    { runReject(t, graphCases()) }

func runReject(t *testing.T, cases []rejectCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			base := tc.base
			if base == nil {
				base = gemmModel
			}
			m := base()
			if tc.mutate != nil {
				tc.mutate(t, dir, m)
			}
			p := writeModel(t, dir, "model.onnx", m)
			done := make(chan error, 1)
			go func() {
				_, err := ReadFile(p, tc.lim)
				done <- err
			}()
			select {
			case err := <-done:
				wantReject(t, err, append([]string{p}, tc.want...)...)
			case <-time.After(10 * time.Second):
				t.Fatal("ReadFile hangs")
			}
			if tc.files {
				return
			}
			// The in-memory path must reject it too (external data
			// for its own reason, everything else for the same one).
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Decode(b, "mem.onnx", tc.lim)
			if hasExternal(m) {
				wantReject(t, err, "mem.onnx")
			} else {
				wantReject(t, err, append([]string{"mem.onnx"}, tc.want...)...)
			}
		})
	}
}

func hasExternal(m *pb.ModelProto) bool {
	ext := false
	forEachTensor(m, func(_ string, t *pb.TensorProto) bool {
		if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
			ext = true
		}
		return !ext
	})
	return ext
}

// Decode has no folder to read external data from: it must refuse every
// external tensor, wherever it sits, naming it.
func TestDecodeRefusesExternal(t *testing.T) {
	for _, tc := range siteCases() {
		if !bytes.Contains([]byte(tc.name), []byte("absolute")) {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			m := gemmModel()
			if tc.base != nil {
				m = tc.base()
			}
			tc.mutate(t, "", m)
			// A location that passes every path rule.
			forEachTensor(m, func(_ string, tp *pb.TensorProto) bool {
				if tp.GetDataLocation() == pb.TensorProto_EXTERNAL {
					tp.ExternalData[0].Value = proto.String("data.bin")
				}
				return true
			})
			_, err := Decode(mustMarshal(t, m), "mem.onnx", Limits{})
			wantReject(t, err, "mem.onnx", tc.want[0], "externally")
		})
	}
	t.Run("valid external", func(t *testing.T) {
		m := gemmModel()
		externalize(m.Graph.Initializer[0], "location", "w.bin", "offset", "0", "length", "24")
		_, err := Decode(mustMarshal(t, m), "mem.onnx", Limits{})
		wantReject(t, err, "mem.onnx", `tensor "W"`, "externally")
	})
}

func TestDecodeOverLimit(t *testing.T) {
	b := mustMarshal(t, gemmModel())
	_, err := Decode(b, "mem.onnx", Limits{MaxProtoBytes: int64(len(b)) - 1})
	wantReject(t, err, "mem.onnx", "over the", "limit for one protobuf")
	if _, err := Decode(b, "mem.onnx", Limits{MaxProtoBytes: int64(len(b))}); err != nil {
		t.Errorf("a model of exactly the limit is refused: %v", err)
	}
}

func TestRejectGarbage(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":          {},
		"truncated":      mustMarshal(t, gemmModel())[:40],
		"text":           []byte("this is not a model"),
		"bad wire type":  {0x0f},
		"huge length":    {0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"varint overrun": bytes.Repeat([]byte{0xff}, 11),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Decode(b, "mem.onnx", Limits{})
			wantReject(t, err, "mem.onnx")
			p := filepath.Join(t.TempDir(), "m.onnx")
			writeBytes(t, p, b)
			_, err = ReadFile(p, Limits{})
			wantReject(t, err, p)
		})
	}
}

// nestBytes builds a model whose graph nests depth levels of node →
// attribute → graph, directly as protobuf bytes. Each level is a header
// followed by the level inside it, so the headers are computed inside out
// and concatenated outside in: linear time, no recursion, any depth.
func nestBytes(depth int) []byte {
	lenField := func(b []byte, num int, n int) []byte {
		return protowireAppendVarint(protowireAppendTag(b, num), uint64(n))
	}
	var headers [][]byte
	size := 0 // size of the innermost GraphProto so far
	for range depth {
		attrHead := lenField(nil, 1, 1)
		attrHead = append(attrHead, 'g')
		attrHead = lenField(attrHead, 6, size) // AttributeProto.g
		attrSize := len(attrHead) + size
		nodeHead := lenField(nil, 4, 2)
		nodeHead = append(nodeHead, "If"...)
		nodeHead = lenField(nodeHead, 5, attrSize) // NodeProto.attribute
		nodeSize := len(nodeHead) + attrSize
		graphHead := lenField(nil, 1, nodeSize) // GraphProto.node
		size = len(graphHead) + nodeSize
		headers = append(headers, append(append(graphHead, nodeHead...), attrHead...))
	}
	m := []byte{0x08, 0x08}                           // ir_version 8
	m = append(m, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x11) // opset_import {domain "", version 17}
	m = lenField(m, 7, size)                          // graph
	for i := len(headers) - 1; i >= 0; i-- {
		m = append(m, headers[i]...)
	}
	return m
}

func protowireAppendTag(b []byte, num int) []byte { return protowireAppendVarint(b, uint64(num)<<3|2) }

func protowireAppendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// §A.10: nesting beyond protobuf's recursion limit must be an error, not
// a stack overflow; nesting within it but beyond MaxDepth is a validation
// error.
func TestRejectDeepNesting(t *testing.T) {
	if _, err := Decode(nestBytes(3), "ok.onnx", Limits{}); err != nil {
		t.Fatalf("nestBytes(3) is not a valid model: %v", err)
	}
	for _, depth := range []int{17, 50, 100, 1000, 100000} {
		rule := "not a valid ONNX protobuf"
		if depth <= 50 {
			rule = "over the limit of 16"
		}
		b := nestBytes(depth)
		_, err := Decode(b, "deep.onnx", Limits{})
		wantReject(t, err, "deep.onnx", rule)
		p := filepath.Join(t.TempDir(), "deep.onnx")
		writeBytes(t, p, b)
		_, err = ReadFile(p, Limits{})
		wantReject(t, err, p, rule)
	}
}

// §A.7: a tensor that declares far more data than the file holds must be
// refused before anything of its declared size is allocated.
func TestAllocationBombs(t *testing.T) {
	bombs := map[string]func(t *testing.T, dir string, m *pb.ModelProto){
		"raw_data 1 GiB declared": func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Initializer[1].Dims = []int64{1 << 28}
		},
		"raw_data 1 TiB declared": func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Initializer[1].Dims = []int64{1 << 40}
		},
		"float_data 1 GiB declared": func(t *testing.T, dir string, m *pb.ModelProto) {
			b := m.Graph.Initializer[1]
			b.Dims, b.RawData, b.FloatData = []int64{1 << 28}, nil, []float32{1}
		},
		"string 1T elements declared": func(t *testing.T, dir string, m *pb.ModelProto) {
			b := m.Graph.Initializer[1]
			b.Dims, b.RawData, b.DataType, b.StringData = []int64{1 << 40}, nil, proto.Int32(8), [][]byte{nil}
		},
		"external 1 GiB declared": func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Initializer[0].Dims = []int64{1 << 28}
			extW("location", "w.bin")(t, dir, m)
		},
		"external 1 GiB declared length given": func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.Initializer[0].Dims = []int64{1 << 28}
			extW("location", "w.bin", "offset", "0", "length", strconv.Itoa(4<<28))(t, dir, m)
		},
		"sparse dense 1 GiB declared": func(t *testing.T, dir string, m *pb.ModelProto) {
			m.Graph.SparseInitializer = []*pb.SparseTensorProto{{
				Values: floatTensor("S", []int64{1}, 1), Indices: int64Tensor("", []int64{1}, 5), Dims: []int64{1 << 14, 1 << 14}}}
			m.Graph.SparseInitializer[0].Indices.RawData = i64raw(1 << 40)
		},
	}
	for name, mutate := range bombs {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			m := gemmModel()
			mutate(t, dir, m)
			p := writeModel(t, dir, "bomb.onnx", m)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := ReadFile(p, Limits{})
			runtime.ReadMemStats(&after)
			wantReject(t, err, p)
			if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
				t.Errorf("rejecting the bomb allocated %d bytes", d)
			}
		})
	}
}

// A model path that is a FIFO or a directory must be refused, not hang.
func TestRejectModelNotRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.onnx")
	if err := mkfifo(fifo); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	for _, p := range []string{fifo, dir} {
		done := make(chan error, 1)
		go func() { _, err := ReadFile(p, Limits{}); done <- err }()
		select {
		case err := <-done:
			wantReject(t, err, p, "not a regular file")
		case <-time.After(10 * time.Second):
			t.Fatalf("ReadFile(%s) hangs", p)
		}
	}
}

func TestMissingModel(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.onnx")
	_, err := ReadFile(p, Limits{})
	wantReject(t, err, p, "opening the model")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%v does not wrap fs.ErrNotExist", err)
	}
}

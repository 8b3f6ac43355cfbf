package graph

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// richProto carries everything Poda does not interpret: metadata, doc
// strings, an unknown op in a custom domain with odd attributes,
// value_info (tensor and non-tensor), a local function, training info,
// quantization annotations, tensor and node metadata. IR 8 / opset 17 so
// that onnx 1.12's checker can judge it.
func richProto() *pb.ModelProto {
	m := gemmProto()
	m.ProducerName, m.ProducerVersion = proto.String("poda-test"), proto.String("0.0.1")
	m.Domain, m.ModelVersion = proto.String("ai.poda.test"), proto.Int64(42)
	m.DocString = proto.String("a model with everything")
	m.MetadataProps = []*pb.StringStringEntryProto{kv("zeta", "last"), kv("alpha", "first"), kv("empty", "")}
	m.OpsetImport = append(m.OpsetImport,
		&pb.OperatorSetIdProto{Domain: proto.String("com.poda.custom"), Version: proto.Int64(3)},
		&pb.OperatorSetIdProto{Domain: proto.String("local"), Version: proto.Int64(1)})
	g := m.Graph
	g.DocString = proto.String("the main graph")
	g.Initializer[0].DocString = proto.String("weights")
	g.QuantizationAnnotation = []*pb.TensorAnnotation{{TensorName: proto.String("W"), QuantParameterTensorNames: []*pb.StringStringEntryProto{kv("SCALE_TENSOR", "B")}}}
	g.Node[0].DocString = proto.String("the only real op")
	odd := []*pb.AttributeProto{
		{Name: proto.String("f"), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(-0.0)},
		{Name: proto.String("ints"), Type: pb.AttributeProto_INTS.Enum(), Ints: []int64{-1, 0, 1 << 40}},
		{Name: proto.String("blob"), Type: pb.AttributeProto_STRING.Enum(), S: []byte{0, 0xff, 'x'}},
		{Name: proto.String("strs"), Type: pb.AttributeProto_STRINGS.Enum(), Strings: [][]byte{nil, []byte("é")}},
		{Name: proto.String("t"), Type: pb.AttributeProto_TENSOR.Enum(), T: &pb.TensorProto{DataType: proto.Int32(11), Dims: []int64{2}, DoubleData: []float64{1.5, -2}}},
		{Name: proto.String("ty"), Type: pb.AttributeProto_TYPE_PROTO.Enum(), Tp: &pb.TypeProto{Value: &pb.TypeProto_SequenceType{SequenceType: &pb.TypeProto_Sequence{
			ElemType: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(7)}}}}}}},
		{Name: proto.String("floats"), Type: pb.AttributeProto_FLOATS.Enum(), Floats: []float32{1, 2.5}, DocString: proto.String("attr doc")},
	}
	g.Node = append(g.Node,
		&pb.NodeProto{Name: proto.String("frob"), OpType: proto.String("Frobnicate"), Domain: proto.String("com.poda.custom"),
			Input: []string{"Y", "", "B"}, Output: []string{"F", "F_aux"}, Attribute: odd, DocString: proto.String("unknown op")},
		&pb.NodeProto{Name: proto.String("call"), OpType: proto.String("Double"), Domain: proto.String("local"),
			Input: []string{"F"}, Output: []string{"D"}},
	)
	g.Output = append(g.Output, valueInfo("D", 1, "batch", 3))
	g.ValueInfo = []*pb.ValueInfoProto{valueInfo("F", 1, "batch", 3), {Name: proto.String("F_aux"), DocString: proto.String("a sequence"),
		Type: &pb.TypeProto{Value: &pb.TypeProto_SequenceType{SequenceType: &pb.TypeProto_Sequence{
			ElemType: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(1)}}}}}}}}
	g.ValueInfo[0].Type.GetTensorType().Shape.Dim[1].Denotation = proto.String("FEATURE")
	m.Functions = []*pb.FunctionProto{{
		Name: proto.String("Double"), Domain: proto.String("local"), Input: []string{"x"}, Output: []string{"y"},
		DocString:   proto.String("y = x + x"),
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Node:        []*pb.NodeProto{mkNode("dbl", "Add", []string{"x", "x"}, []string{"y"})},
	}}
	m.TrainingInfo = []*pb.TrainingInfoProto{{
		Algorithm: &pb.GraphProto{
			Name:        proto.String("train"),
			Initializer: []*pb.TensorProto{floatInit("lr", nil, 0.01)},
			Node:        []*pb.NodeProto{mkNode("step", "Mul", []string{"W", "lr"}, []string{"W_new"})},
			Output:      []*pb.ValueInfoProto{valueInfo("W_new", 1, 3, 2)},
		},
		UpdateBinding: []*pb.StringStringEntryProto{kv("W", "W_new")},
	}}
	return m
}

// Everything the file carried is still there after Load → Save → Load.
func TestPreservedFields(t *testing.T) {
	dir := t.TempDir()
	orig := richProto()
	in := writeProto(t, dir, "in.onnx", orig)
	m, err := Load(in, onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.onnx")
	if err := m.Save(out, onnx.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := onnx.ReadFile(out, onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	got := f.Model
	if !proto.Equal(got, orig) {
		// Name what went missing before failing.
		check := func(what string, ok bool) {
			if !ok {
				t.Errorf("lost: %s", what)
			}
		}
		check("metadata_props", len(got.MetadataProps) == 3 && got.MetadataProps[0].GetKey() == "zeta")
		check("model doc_string", got.GetDocString() == orig.GetDocString())
		check("producer", got.GetProducerName() == "poda-test" && got.GetProducerVersion() == "0.0.1")
		check("domain and model_version", got.GetDomain() == orig.GetDomain() && got.GetModelVersion() == 42)
		check("graph doc_string", got.Graph.GetDocString() == "the main graph")
		check("quantization_annotation", len(got.Graph.QuantizationAnnotation) == 1)
		check("initializer doc_string", got.Graph.Initializer[0].GetDocString() == "weights")
		check("custom op", len(got.Graph.Node) == 3 && proto.Equal(got.Graph.Node[1], orig.Graph.Node[1]))
		check("function", len(got.Functions) == 1 && proto.Equal(got.Functions[0], orig.Functions[0]))
		check("training_info", len(got.TrainingInfo) == 1 && proto.Equal(got.TrainingInfo[0], orig.TrainingInfo[0]))
		check("value_info", len(got.Graph.ValueInfo) == 2 && proto.Equal(got.Graph.ValueInfo[1], orig.Graph.ValueInfo[1]) &&
			proto.Equal(got.Graph.ValueInfo[0], orig.Graph.ValueInfo[0]))
		check("inputs and outputs", proto.Equal(got.Graph.Input[0], orig.Graph.Input[0]) && len(got.Graph.Output) == 2)
		t.Errorf("model changed in Load → Save → Load:\n got %v\nwant %v", got, orig)
	}
}

// Save refuses the model's own files, whatever path names them, writes
// atomically, and writes the same bytes every time.
func TestSaveSafety(t *testing.T) {
	dir := t.TempDir()
	in := writeProto(t, dir, "in.onnx", richProto())
	orig, _ := os.ReadFile(in)
	m, err := Load(in, onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(in, filepath.Join(dir, "hard.onnx")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{in, filepath.Join(dir, "sub", "..", "in.onnx"), filepath.Join(dir, "hard.onnx")} {
		err := m.Save(p, onnx.WriteOptions{})
		if err == nil || !onnx.IsError(err) || !strings.Contains(err.Error(), "refusing to overwrite") {
			t.Errorf("Save(%s) = %v; want a refusal", p, err)
		}
	}
	// A clone still knows its source.
	if err := m.Clone().Save(in, onnx.WriteOptions{}); err == nil {
		t.Error("Clone().Save overwrote the input")
	}
	if b, _ := os.ReadFile(in); !bytes.Equal(b, orig) {
		t.Fatal("the input changed")
	}
	a, b := filepath.Join(dir, "a.onnx"), filepath.Join(dir, "b.onnx")
	for _, p := range []string{a, b, a} {
		if err := m.Save(p, onnx.WriteOptions{ExternalThreshold: 8, ExternalName: "w.data"}); err != nil {
			t.Fatal(err)
		}
	}
	ab, _ := os.ReadFile(a)
	bb, _ := os.ReadFile(b)
	if !bytes.Equal(ab, bb) {
		t.Error("two saves of one model differ")
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "a.onnx b.onnx hard.onnx in.onnx sub w.data" {
		t.Errorf("folder holds %v (temporary files left?)", names)
	}
	// The saved pair loads back to the same model, and saving it again
	// may not touch its own data file.
	m2, err := Load(a, onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	e1, _ := m.Encode()
	e2, _ := m2.Encode()
	if !bytes.Equal(e1, e2) {
		t.Error("external-data save does not load back to the same model")
	}
	if err := m2.Save(filepath.Join(dir, "c.onnx"), onnx.WriteOptions{ExternalThreshold: 8, ExternalName: "w.data"}); err == nil {
		t.Error("Save overwrote the data file the model was loaded from")
	}
	// A model that breaks the IR's invariants is not saved at all.
	bad := m.Clone()
	bad.Graph.Nodes[0].Inputs[0] = "nowhere"
	if err := bad.Save(filepath.Join(dir, "bad.onnx"), onnx.WriteOptions{}); err == nil {
		t.Error("saved a graph that reads an undefined value")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.onnx")); !os.IsNotExist(err) {
		t.Error("bad.onnx exists")
	}
}

// pythonONNX returns the python3 that has onnx, or skips.
func pythonONNX(t *testing.T) string {
	py := "/usr/bin/python3"
	if err := pyCommand(t, py, "import onnx.checker").Run(); err != nil {
		t.Skip("/usr/bin/python3 lacks onnx (CI installs python3-onnx)")
	}
	return py
}

// pyCommand runs python code outside the repository, whose onnx/ folder
// would otherwise shadow the onnx module.
func pyCommand(t *testing.T, py, code string, args ...string) *exec.Cmd {
	cmd := exec.Command(py, append([]string{"-c", code}, args...)...)
	cmd.Dir = os.TempDir()
	return cmd
}

const checkScript = "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True)"

// Every test model that ONNX's checker accepts is still accepted after
// Load → Save. One python process checks them all.
func TestSavedTestdataPassONNXChecker(t *testing.T) {
	if testing.Short() {
		t.Skip("checks every test model; skipped with -short")
	}
	py := pythonONNX(t)
	files := modelFiles(t)
	dir := t.TempDir()
	var list strings.Builder
	for i, p := range files {
		m, err := Load(p, onnx.Limits{})
		if err != nil {
			continue
		}
		out := filepath.Join(dir, fmt.Sprintf("%04d.onnx", i))
		if err := m.Save(out, onnx.WriteOptions{}); err != nil {
			t.Errorf("%s: Save: %v", p, err)
			continue
		}
		fmt.Fprintf(&list, "%s\t%s\n", p, out)
	}
	listFile := filepath.Join(dir, "list.txt")
	if err := os.WriteFile(listFile, []byte(list.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import onnx, sys
ok = skipped = 0
for line in open(sys.argv[1]):
    orig, saved = line.rstrip("\n").split("\t")
    try:
        onnx.checker.check_model(onnx.load(orig), full_check=True)
    except Exception:
        skipped += 1
        continue
    try:
        onnx.checker.check_model(onnx.load(saved), full_check=True)
        ok += 1
    except Exception as e:
        print("FAIL", orig, str(e).splitlines()[0] if str(e) else repr(e))
print("checked", ok, "skipped", skipped)
`
	b, err := pyCommand(t, py, script, listFile).CombinedOutput()
	if err != nil {
		t.Fatalf("checker script: %v\n%s", err, b)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, "FAIL") {
			t.Error(line)
		} else {
			t.Log(line)
		}
	}
}

// ONNX's own checker accepts what Save writes.
func TestSavedModelsPassONNXChecker(t *testing.T) {
	py := pythonONNX(t)
	dir := t.TempDir()
	cases := map[string]struct {
		m   *pb.ModelProto
		opt onnx.WriteOptions
	}{
		"gemm":          {gemmProto(), onnx.WriteOptions{}},
		"rich":          {richProto(), onnx.WriteOptions{}},
		"external data": {gemmProto(), onnx.WriteOptions{ExternalThreshold: 8}},
	}
	sparse := gemmProto()
	sparse.Graph.Initializer[0] = floatInit("W", []int64{3, 2}, 0, 0, 0, 0, 5, 0)
	cases["sparse"] = struct {
		m   *pb.ModelProto
		opt onnx.WriteOptions
	}{sparse, onnx.WriteOptions{}}
	// The harness itself can fail: a Gemm with one input is refused.
	broken := gemmProto()
	broken.Graph.Node[0].Input = broken.Graph.Node[0].Input[:1]
	bad := writeProto(t, dir, "broken.onnx", broken)
	if err := pyCommand(t, py, checkScript, bad).Run(); err == nil {
		t.Fatal("onnx.checker accepts a Gemm with one input; the test cannot fail")
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			sub := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.Mkdir(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			in := writeProto(t, sub, "in.onnx", tc.m)
			m, err := Load(in, onnx.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if name == "sparse" {
				if m.StoreSparse(nil) != 1 {
					t.Fatal("W not stored sparse")
				}
			}
			out := filepath.Join(sub, "out.onnx")
			if err := m.Save(out, tc.opt); err != nil {
				t.Fatal(err)
			}
			cmd := pyCommand(t, py, checkScript, out)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("onnx.checker refuses %s: %v\n%s", name, err, b)
			}
		})
	}
}

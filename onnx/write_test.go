package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// dirNames lists dir, sorted.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func wantDir(t *testing.T, dir string, names ...string) {
	t.Helper()
	sort.Strings(names)
	got := dirNames(t, dir)
	if strings.Join(got, "|") != strings.Join(names, "|") {
		t.Errorf("folder holds %q, want %q (a temporary file left behind?)", got, names)
	}
}

func readBytes(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteDeterministic(t *testing.T) {
	for _, opt := range []WriteOptions{{}, {ExternalThreshold: 16}} {
		t.Run("threshold"+strconv.FormatInt(opt.ExternalThreshold, 10), func(t *testing.T) {
			dir := t.TempDir()
			m := withFunction(sparseModel())
			m.MetadataProps = []*pb.StringStringEntryProto{{Key: proto.String("b"), Value: proto.String("2")}, {Key: proto.String("a"), Value: proto.String("1")}}
			before := proto.Clone(m)
			var files [][]byte
			for _, name := range []string{"a.onnx", "b.onnx", "a.onnx"} {
				o := opt
				o.ExternalName = "data.bin"
				if err := WriteFile(filepath.Join(dir, name), m, o); err != nil {
					t.Fatal(err)
				}
				files = append(files, readBytes(t, filepath.Join(dir, name)))
				if opt.ExternalThreshold > 0 {
					files = append(files, readBytes(t, filepath.Join(dir, o.ExternalName)))
				}
			}
			if !proto.Equal(m, before) {
				t.Error("WriteFile modified the model it was given")
			}
			step := len(files) / 3
			for i := step; i < len(files); i++ {
				if !bytes.Equal(files[i], files[i%step]) {
					t.Errorf("write %d differs from the first", i)
				}
			}
			if opt.ExternalThreshold > 0 {
				wantDir(t, dir, "a.onnx", "b.onnx", "data.bin")
			} else {
				wantDir(t, dir, "a.onnx", "b.onnx")
			}
		})
	}
}

func TestWriteExternalRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := withFunction(sparseModel())
	big := make([]float32, 100)
	for i := range big {
		big[i] = float32(i)
	}
	m.Graph.Initializer = append(m.Graph.Initializer, floatTensor("big", []int64{100}, big...))
	m.Graph.Input = append(m.Graph.Input, tensorValue("big", 100))
	out := filepath.Join(dir, "out.onnx")
	if err := WriteFile(out, m, WriteOptions{ExternalThreshold: 16}); err != nil {
		t.Fatal(err)
	}
	wantDir(t, dir, "out.onnx", "out.onnx.data")
	// The file on disk refers to the data file for W and big, not B.
	raw, err := decodeOnly(readBytes(t, out))
	if err != nil {
		t.Fatal(err)
	}
	var external []string
	for _, init := range raw.Graph.Initializer {
		if init.GetDataLocation() == pb.TensorProto_EXTERNAL {
			external = append(external, init.GetName())
			for _, e := range init.ExternalData {
				if e.GetKey() == "offset" {
					if off, _ := strconv.Atoi(e.GetValue()); off%64 != 0 {
						t.Errorf("tensor %s at offset %d, not 64-byte aligned", init.GetName(), off)
					}
				}
			}
		}
	}
	if strings.Join(external, ",") != "W,big" {
		t.Errorf("external tensors %v, want W and big", external)
	}
	f, err := ReadFile(out, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(f.Model, m) {
		t.Error("model read back differs from the one written")
	}
	if len(f.DataFiles) != 1 || f.DataFiles[0] != out+".data" {
		t.Errorf("DataFiles = %v", f.DataFiles)
	}
	// A subfolder name works too, and so does a threshold nothing reaches.
	if err := os.Mkdir(filepath.Join(dir, "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	out2 := filepath.Join(dir, "out2.onnx")
	if err := WriteFile(out2, m, WriteOptions{ExternalThreshold: 16, ExternalName: "w/weights.bin"}); err != nil {
		t.Fatal(err)
	}
	if f, err := ReadFile(out2, Limits{}); err != nil || !proto.Equal(f.Model, m) {
		t.Errorf("subfolder data: %v", err)
	}
	out3 := filepath.Join(dir, "out3.onnx")
	if err := WriteFile(out3, m, WriteOptions{ExternalThreshold: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(out3 + ".data"); !os.IsNotExist(err) {
		t.Errorf("a data file was written though no tensor reaches the threshold: %v", err)
	}
}

// decodeOnly unmarshals without validation or loading.
func decodeOnly(b []byte) (*pb.ModelProto, error) {
	m := &pb.ModelProto{}
	return m, proto.Unmarshal(b, m)
}

// §C: never overwrite the input model or its data, whatever the path.
func TestWriteRefusesInputs(t *testing.T) {
	dir := t.TempDir()
	m := gemmModel()
	w := m.Graph.Initializer[0]
	writeBytes(t, filepath.Join(dir, "w.bin"), w.RawData)
	externalize(w, "location", "w.bin")
	in := writeModel(t, dir, "in.onnx", m)
	f, err := ReadFile(in, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	// A second name for the model and one for the data, made after
	// reading (the reader refuses hard-linked data, the writer must still
	// recognize it).
	if err := os.Link(in, filepath.Join(dir, "hard.onnx")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("in.onnx", filepath.Join(dir, "sym.onnx")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(dir, "w.bin"), filepath.Join(dir, "w-hard.bin")); err != nil {
		t.Fatal(err)
	}
	modelBytes, dataBytes := readBytes(t, in), readBytes(t, filepath.Join(dir, "w.bin"))
	names := dirNames(t, dir)
	for _, tc := range []struct {
		name string
		path string
		opt  WriteOptions
	}{
		{"same path", in, WriteOptions{}},
		{"dot dot path", filepath.Join(dir, "sub", "..", "in.onnx"), WriteOptions{}},
		{"dot path", filepath.Join(dir, ".", "in.onnx"), WriteOptions{}},
		{"hard link", filepath.Join(dir, "hard.onnx"), WriteOptions{}},
		{"symlink", filepath.Join(dir, "sym.onnx"), WriteOptions{}},
		{"model onto data", filepath.Join(dir, "w.bin"), WriteOptions{}},
		{"model onto hard-linked data", filepath.Join(dir, "w-hard.bin"), WriteOptions{}},
		{"data onto data", filepath.Join(dir, "new.onnx"), WriteOptions{ExternalThreshold: 1, ExternalName: "w.bin"}},
		{"data onto hard-linked data", filepath.Join(dir, "new.onnx"), WriteOptions{ExternalThreshold: 1, ExternalName: "w-hard.bin"}},
		{"data onto data via subfolder", filepath.Join(dir, "sub", "..", "new.onnx"), WriteOptions{ExternalThreshold: 1, ExternalName: "w.bin"}},
		{"data onto model", filepath.Join(dir, "new.onnx"), WriteOptions{ExternalThreshold: 1, ExternalName: "in.onnx"}},
		{"data onto hard-linked model", filepath.Join(dir, "in.onnx.data"), WriteOptions{ExternalThreshold: 1, ExternalName: "hard.onnx"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opt.Protect = f.Sources()
			err := WriteFile(tc.path, f.Model, tc.opt)
			wantReject(t, err, "refusing to overwrite the input file")
			if !bytes.Equal(readBytes(t, in), modelBytes) || !bytes.Equal(readBytes(t, filepath.Join(dir, "w.bin")), dataBytes) {
				t.Fatal("an input file changed")
			}
			wantDir(t, dir, names...)
		})
	}
}

// Checklist §A.5: the writer refuses data names that leave the output
// folder, and names that would clobber the model itself.
func TestWriteRefusesEscapingNames(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out", "m.onnx")
	outside := t.TempDir()
	if err := os.Mkdir(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "out", "link")); err != nil {
		t.Fatal(err)
	}
	writeBytes(t, filepath.Join(dir, "out", "file"), []byte("x"))
	for name, rule := range map[string]string{
		"../escape.bin":             "'..'",
		"a/../../escape.bin":        "'..'",
		"a/../m.bin":                "'..'",
		"/tmp/escape.bin":           "is absolute",
		filepath.Join(outside, "x"): "is absolute",
		`..\escape.bin`:             "backslash",
		"C:/escape.bin":             "drive letter",
		"c:escape.bin":              "drive letter",
		".":                         "folder itself",
		"link/escape.bin":           "symbolic link",
		"file/x.bin":                "not a directory",
		"m.onnx":                    "model file itself",
		"./m.onnx":                  "model file itself",
	} {
		t.Run(name, func(t *testing.T) {
			err := WriteFile(out, gemmModel(), WriteOptions{ExternalThreshold: 1, ExternalName: name})
			wantReject(t, err, out, rule)
			wantDir(t, filepath.Join(dir, "out"), "file", "link")
			wantDir(t, outside)
		})
	}
}

// A write that fails leaves the previous files as they were, and no
// temporary files.
func TestWriteFailureKeepsOldFiles(t *testing.T) {
	t.Run("data path is a folder", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "m.onnx")
		old := []byte("old model")
		writeBytes(t, out, old)
		writeBytes(t, filepath.Join(dir, "m.onnx.data", "keep"), []byte("x"))
		err := WriteFile(out, gemmModel(), WriteOptions{ExternalThreshold: 1})
		if err == nil {
			t.Fatal("write over a folder succeeded")
		}
		if !bytes.Equal(readBytes(t, out), old) {
			t.Error("old model replaced though its data could not be written")
		}
		wantDir(t, dir, "m.onnx", "m.onnx.data")
	})
	t.Run("data folder missing", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "m.onnx")
		old := []byte("old model")
		writeBytes(t, out, old)
		err := WriteFile(out, gemmModel(), WriteOptions{ExternalThreshold: 1, ExternalName: "nope/m.data"})
		if err == nil {
			t.Fatal("write into a missing folder succeeded")
		}
		if !bytes.Equal(readBytes(t, out), old) {
			t.Error("old model replaced")
		}
		wantDir(t, dir, "m.onnx")
	})
	t.Run("model path is a folder", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "m.onnx")
		writeBytes(t, filepath.Join(out, "keep"), []byte("x"))
		if err := WriteFile(out, gemmModel(), WriteOptions{}); err == nil {
			t.Fatal("write over a folder succeeded")
		}
		wantDir(t, dir, "m.onnx")
	})
	t.Run("model temp file cannot be created", func(t *testing.T) {
		// A model name so long that its temporary name is over NAME_MAX:
		// the model cannot be written, so the old data must not be
		// replaced either (it belongs to the old model).
		dir := t.TempDir()
		out := filepath.Join(dir, strings.Repeat("m", 245)+".onnx")
		oldModel, oldData := []byte("old model"), []byte("old data")
		writeBytes(t, out, oldModel)
		writeBytes(t, filepath.Join(dir, "w.data"), oldData)
		err := WriteFile(out, gemmModel(), WriteOptions{ExternalThreshold: 1, ExternalName: "w.data"})
		if err == nil {
			t.Skip("this file system takes names over 255 bytes")
		}
		if !bytes.Equal(readBytes(t, out), oldModel) || !bytes.Equal(readBytes(t, filepath.Join(dir, "w.data")), oldData) {
			t.Error("a failed write changed the old model or its data")
		}
		wantDir(t, dir, filepath.Base(out), "w.data")
	})
	t.Run("protected", func(t *testing.T) {
		dir := t.TempDir()
		out := filepath.Join(dir, "m.onnx")
		old := []byte("old model")
		writeBytes(t, out, old)
		err := WriteFile(out, gemmModel(), WriteOptions{Protect: []string{out}})
		wantReject(t, err, out, "refusing")
		if !bytes.Equal(readBytes(t, out), old) {
			t.Error("protected file replaced")
		}
		wantDir(t, dir, "m.onnx")
	})
}

// Overwriting an earlier output (not an input) is allowed, and atomic.
func TestWriteReplacesOutput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "m.onnx")
	writeBytes(t, out, []byte("old"))
	// A reader holding the old file keeps seeing the old bytes.
	h, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := WriteFile(out, gemmModel(), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 10)
	n, _ := h.Read(b)
	if string(b[:n]) != "old" {
		t.Errorf("the old file was modified in place: %q", b[:n])
	}
	if _, err := ReadFile(out, Limits{}); err != nil {
		t.Fatal(err)
	}
	wantDir(t, dir, "m.onnx")
}

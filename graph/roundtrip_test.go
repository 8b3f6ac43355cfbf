package graph

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podaml/poda/onnx"
)

// modelFiles lists the ONNX test models of the system (Debian's
// libonnx-testdata) and of the repository's fixtures.
func modelFiles(t *testing.T) []string {
	var files []string
	sys, _ := filepath.Glob("/usr/share/libonnx-testdata/data/*/*/model.onnx")
	files = append(files, sys...)
	own, _ := filepath.Glob("../testdata/models/*.onnx")
	files = append(files, own...)
	if len(files) == 0 {
		t.Skip("no test models: install libonnx-testdata or generate testdata/models")
	}
	return files
}

// Load → Encode → Decode → FromProto → Encode gives the same bytes: the
// IR's encoding is a fixed point, whatever the file looked like.
func TestRoundTripModels(t *testing.T) {
	files := modelFiles(t)
	loaded, refused := 0, 0
	for _, p := range files {
		name := strings.TrimPrefix(p, "/usr/share/libonnx-testdata/data/")
		m, err := Load(p, onnx.Limits{})
		if err != nil {
			// A refusal must be a clear validation error naming the file
			// (the test data holds IR features Poda does not support).
			if !onnx.IsError(err) && !strings.Contains(err.Error(), p) {
				t.Errorf("%s: refused with an error that names neither rule nor file: %v", name, err)
			}
			refused++
			continue
		}
		loaded++
		first, err := m.Encode()
		if err != nil {
			t.Errorf("%s: Encode: %v", name, err)
			continue
		}
		pm, err := onnx.Decode(first, name, onnx.Limits{})
		if err != nil {
			t.Errorf("%s: the encoded model does not decode: %v", name, err)
			continue
		}
		m2, err := FromProto(pm)
		if err != nil {
			t.Errorf("%s: FromProto of the encoded model: %v", name, err)
			continue
		}
		second, err := m2.Encode()
		if err != nil {
			t.Errorf("%s: second Encode: %v", name, err)
			continue
		}
		if !bytes.Equal(first, second) {
			t.Errorf("%s: encoding is not a fixed point (%d vs %d bytes)", name, len(first), len(second))
		}
		third, _ := m.Encode()
		if !bytes.Equal(first, third) {
			t.Errorf("%s: two encodings of one model differ", name)
		}
	}
	t.Logf("%d models round-tripped, %d refused", loaded, refused)
	if loaded == 0 {
		t.Error("no model loaded")
	}
}

// What the source file held survives Load → Save → Load byte for byte
// when nothing is edited: the saved bytes equal the IR's encoding.
func TestSaveMatchesEncode(t *testing.T) {
	files := modelFiles(t)
	dir := t.TempDir()
	n := 0
	for _, p := range files {
		if n == 50 {
			break
		}
		m, err := Load(p, onnx.Limits{})
		if err != nil {
			continue
		}
		n++
		out := filepath.Join(dir, "out.onnx")
		if err := m.Save(out, onnx.WriteOptions{}); err != nil {
			t.Errorf("%s: Save: %v", p, err)
			continue
		}
		enc, _ := m.Encode()
		got, _ := os.ReadFile(out)
		if !bytes.Equal(enc, got) {
			t.Errorf("%s: saved bytes differ from Encode", p)
		}
	}
}

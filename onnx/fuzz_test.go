package onnx

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/podaml/poda/onnx/pb"
)

// sentinel fills the file outside the model folder that every escape in
// FuzzExternalPath aims at.
var sentinel = bytes.Repeat([]byte("SENTINEL"), 64)

// FuzzExternalPath points an external tensor at a fuzzed location, offset
// and length, inside a folder that holds a regular data file, a symlink
// and a hard link to an outside sentinel file, a symlinked folder and a
// FIFO. Reading must never panic or hang, and must never return bytes of
// the sentinel: only bytes of the legitimate data files.
func FuzzExternalPath(f *testing.F) {
	for _, loc := range []string{"w.bin", "sub/w.bin", "link.bin", "hard.bin", "linkdir/secret", "../outside/secret",
		"/abs", "sub/../w.bin", `sub\w.bin`, "C:w.bin", "", ".", "fifo", "sub", "w.bin/x", "./w.bin", "sub//w.bin", "sub/./w.bin"} {
		f.Add(loc, int64(0), int64(24))
	}
	f.Add("w.bin", int64(8), int64(16))
	f.Add("w.bin", int64(-1), int64(24))
	f.Add("w.bin", int64(1<<62), int64(1<<62))
	f.Add("w.bin", int64(0), int64(-4))
	f.Add("w.bin", int64(0), int64(4<<30))

	root := f.TempDir()
	dir := filepath.Join(root, "model")
	outside := filepath.Join(root, "outside")
	legit := make([]byte, 64)
	for i := range legit {
		legit[i] = byte(i)
	}
	writeBytes(f, filepath.Join(outside, "secret"), sentinel)
	writeBytes(f, filepath.Join(dir, "w.bin"), legit)
	writeBytes(f, filepath.Join(dir, "sub", "w.bin"), legit)
	must := func(err error) {
		if err != nil {
			f.Fatal(err)
		}
	}
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "link.bin")))
	must(os.Link(filepath.Join(outside, "secret"), filepath.Join(dir, "hard.bin")))
	must(os.Symlink(outside, filepath.Join(dir, "linkdir")))
	_ = mkfifo(filepath.Join(dir, "fifo"))
	modelPath := filepath.Join(dir, "m.onnx")

	f.Fuzz(func(t *testing.T, loc string, off, length int64) {
		m := gemmModel()
		w := m.Graph.Initializer[0]
		if length >= 0 && length%4 == 0 && length <= 1<<20 {
			w.Dims = []int64{length / 4}
		}
		kv := []string{"location", loc}
		if off != 0 {
			kv = append(kv, "offset", strconv.FormatInt(off, 10))
		}
		if length != 24 {
			kv = append(kv, "length", strconv.FormatInt(length, 10))
		}
		externalize(w, kv...)
		b, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(modelPath, b, 0o644); err != nil {
			t.Fatal(err)
		}
		file, err := ReadFile(modelPath, Limits{MaxTensorBytes: 1 << 20})
		if err != nil {
			if !IsError(err) {
				t.Fatalf("error %v is not an *onnx.Error", err)
			}
			return
		}
		got := file.Model.Graph.Initializer[0].RawData
		if bytes.Contains(got, []byte("SENT")) || bytes.Contains(got, []byte("INEL")) {
			t.Fatalf("location %q offset %d length %d returned sentinel bytes", loc, off, length)
		}
		if off < 0 || off+int64(len(got)) > int64(len(legit)) || !bytes.Equal(got, legit[off:off+int64(len(got))]) {
			t.Fatalf("location %q offset %d length %d returned bytes that are not the data file's", loc, off, length)
		}
		for _, df := range file.DataFiles {
			rel, err := filepath.Rel(dir, df)
			if err != nil || rel == ".." || filepath.IsAbs(rel) || len(rel) >= 3 && rel[:3] == "../" {
				t.Fatalf("data file %s is outside %s", df, dir)
			}
			if fi, err := os.Lstat(df); err != nil || !fi.Mode().IsRegular() {
				t.Fatalf("data file %s is not a regular file", df)
			}
		}
	})
}

// locationsChecked pins the path rules on their own, for the corpus.
func TestCheckLocation(t *testing.T) {
	for loc, ok := range map[string]bool{
		"w.bin": true, "a/b/c.bin": true, "./w.bin": true, "a//b": true, "..w": true, "w..": true, "a/..b/c": true,
		"": false, ".": false, "./": false, "..": false, "../w": false, "a/../w": false, "a/..": false, "/w": false,
		`a\b`: false, "C:w": false, "c:/w": false, "w\x00": false, "a/./../b": false,
	} {
		if err := checkLocation(loc); (err == nil) != ok {
			t.Errorf("checkLocation(%q) = %v, want ok=%v", loc, err, ok)
		}
	}
}

var _ = pb.TensorProto_EXTERNAL

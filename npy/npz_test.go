package npy

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podaml/poda/tensor"
)

func TestNPZRoundTrip(t *testing.T) {
	dir := t.TempDir()
	m := map[string]*tensor.Tensor{
		"w":        sample(tensor.Float, 4, 3),
		"b":        sample(tensor.Double, 3),
		"labels":   sample(tensor.Int64, 4),
		"sub/mask": sample(tensor.Bool, 2, 2),
		"scalar":   sample(tensor.Uint8),
	}
	names := []string{"w", "labels", "b", "sub/mask", "scalar"}
	for _, comp := range []bool{false, true} {
		p := filepath.Join(dir, "a.npz")
		write := WriteNPZ
		if comp {
			write = WriteNPZCompressed
		}
		if err := write(p, names, m); err != nil {
			t.Fatal(err)
		}
		b1, _ := os.ReadFile(p)
		if err := write(p, names, m); err != nil {
			t.Fatal(err)
		}
		b2, _ := os.ReadFile(p)
		if !bytes.Equal(b1, b2) {
			t.Fatalf("compressed=%v: two writes differ", comp)
		}
		got, order, err := ReadNPZ(p)
		if err != nil {
			t.Fatalf("compressed=%v: %v", comp, err)
		}
		if strings.Join(order, ",") != strings.Join(names, ",") {
			t.Fatalf("order %v, want %v", order, names)
		}
		for k, v := range m {
			if !equal(v, got[k]) {
				t.Fatalf("compressed=%v: %s differs", comp, k)
			}
		}
		zr, _ := zip.OpenReader(p)
		want := zip.Store
		if comp {
			want = zip.Deflate
		}
		for _, f := range zr.File {
			if f.Method != want {
				t.Fatalf("member %s has method %d, want %d", f.Name, f.Method, want)
			}
		}
		zr.Close()
	}
}

func TestWriteNPZRejects(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.npz")
	a := sample(tensor.Float, 2)
	cases := []struct {
		names []string
		m     map[string]*tensor.Tensor
		want  string
	}{
		{[]string{"a", "a"}, map[string]*tensor.Tensor{"a": a}, "listed twice"},
		{[]string{"a"}, map[string]*tensor.Tensor{"b": a}, "not in the map"},
		{[]string{"a"}, map[string]*tensor.Tensor{"a": a, "b": a}, "not listed"},
		{[]string{"../a"}, map[string]*tensor.Tensor{"../a": a}, "clean relative"},
		{[]string{"/a"}, map[string]*tensor.Tensor{"/a": a}, "clean relative"},
		{[]string{""}, map[string]*tensor.Tensor{"": a}, "empty"},
		{[]string{"a"}, map[string]*tensor.Tensor{"a": {DType: tensor.Float, Shape: []int{3}}}, "F32"},
	}
	for _, c := range cases {
		err := WriteNPZ(p, c.names, c.m)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%v: err = %v, want %q and the file name", c.names, err, c.want)
		}
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatal("a rejected write created the file")
	}
}

// zipOf builds an archive with raw members.
func zipOf(t *testing.T, method uint16, members ...string) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for i := 0; i < len(members); i += 2 {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: members[i], Method: method})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(members[i+1]))
	}
	zw.Close()
	return b.Bytes()
}

func TestReadNPZRejects(t *testing.T) {
	var arr bytes.Buffer
	Write(&arr, sample(tensor.Float, 8))
	good := arr.String()
	dir := t.TempDir()
	corruptCRC := zipOf(t, zip.Store, "a.npy", good)
	// Flip the last data byte of the stored member.
	corruptCRC[bytes.Index(corruptCRC, []byte(good))+len(good)-1] ^= 0xff
	cases := []struct {
		name string
		file []byte
		want string
	}{
		{"not zip", []byte("hello world"), "not a valid zip"},
		{"not npy name", zipOf(t, zip.Store, "a.txt", good), "does not end in .npy"},
		{"dup", zipOf(t, zip.Store, "a.npy", good, "a.npy", good), "duplicate member"},
		{"dotdot", zipOf(t, zip.Store, "../a.npy", good), "clean relative"},
		{"bad member", zipOf(t, zip.Deflate, "a.npy", "garbage"), "member \"a.npy\""},
		{"trailing", zipOf(t, zip.Store, "a.npy", good+"x"), "trailing bytes"},
		{"crc", corruptCRC, "checksum"},
		{"truncated", zipOf(t, zip.Store, "a.npy", good)[:100], "not a valid zip"},
	}
	for _, c := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".npz")
		os.WriteFile(p, c.file, 0o644)
		_, _, err := ReadNPZ(p)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%s: err = %v, want %q and the file name", c.name, err, c.want)
		}
	}
	lim := DefaultLimits
	lim.MaxEntries = 1
	p := filepath.Join(dir, "two.npz")
	os.WriteFile(p, zipOf(t, zip.Store, "a.npy", good, "b.npy", good), 0o644)
	if _, _, err := lim.ReadNPZ(p); err == nil || !strings.Contains(err.Error(), "exceed the limit") {
		t.Errorf("MaxEntries: err = %v", err)
	}
	lim = DefaultLimits
	lim.MaxBytes = 100
	if _, _, err := lim.ReadNPZ(p); err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("MaxBytes: err = %v", err)
	}
}

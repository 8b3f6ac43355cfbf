package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// FuzzReadIDX checks that the idx reader never panics and that whatever it
// accepts has exactly as many bytes as its dims say.
func FuzzReadIDX(f *testing.F) {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, []uint32{0x803, 2, 3, 3})
	b.Write(make([]byte, 18))
	f.Add(b.Bytes(), false)
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(b.Bytes())
	zw.Close()
	f.Add(z.Bytes(), true)
	f.Add([]byte("\x00\x00\x08\x03\xff\xff\xff\xff\x00\x00\x00\x1c\x00\x00\x00\x1c"), false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, gz bool) {
		name := "x"
		if gz {
			name += ".gz"
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		dims, payload, err := readIDX(p, 3)
		if err != nil {
			return
		}
		if len(dims) != 3 || len(payload) != dims[0]*dims[1]*dims[2] {
			t.Fatalf("dims %v with %d bytes", dims, len(payload))
		}
	})
}

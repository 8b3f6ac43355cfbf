package npy

import (
	"bytes"
	"io"
	"testing"

	"github.com/podaml/poda/tensor"
)

// FuzzRead checks that Read never panics, keeps allocations bounded by the
// limits, and that whatever it accepts is a valid tensor that Write turns
// back into bytes Read accepts again and decodes to the same tensor.
func FuzzRead(f *testing.F) {
	for _, dt := range []tensor.DType{tensor.Float, tensor.Int64, tensor.Bool, tensor.Double} {
		var b bytes.Buffer
		Write(&b, sample(dt, 2, 3))
		f.Add(b.Bytes())
	}
	f.Add(build("{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }", make([]byte, 48)))
	lim := Limits{MaxHeaderBytes: 4096, MaxRank: 16, MaxBytes: 1 << 20, MaxEntries: 1}
	f.Fuzz(func(t *testing.T, data []byte) {
		// Both with a known size and as a stream of unknown length.
		t1, err1 := lim.Read(bytes.NewReader(data))
		t2, err2 := lim.Read(io.MultiReader(bytes.NewReader(data))) // hides Len
		if (err1 == nil) != (err2 == nil) {
			t.Fatalf("sized and streamed reads disagree: %v vs %v", err1, err2)
		}
		if err1 != nil {
			return
		}
		if !equal(t1, t2) {
			t.Fatal("sized and streamed reads differ")
		}
		var b bytes.Buffer
		if err := Write(&b, t1); err != nil {
			t.Fatalf("accepted tensor cannot be written: %v", err)
		}
		t3, err := lim.Read(bytes.NewReader(b.Bytes()))
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if !equal(t1, t3) {
			t.Fatal("write/read round trip differs")
		}
	})
}

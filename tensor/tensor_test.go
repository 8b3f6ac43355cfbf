package tensor

import (
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"slices"
	"testing"
)

func TestNumel(t *testing.T) {
	for _, tc := range []struct {
		dims []int64
		want int64
		err  bool
	}{
		{nil, 1, false},
		{[]int64{}, 1, false},
		{[]int64{0}, 0, false},
		{[]int64{3, 4, 5}, 60, false},
		{[]int64{1 << 31, 1 << 31}, 1 << 62, false},
		{[]int64{math.MaxInt64}, math.MaxInt64, false},
		{[]int64{math.MaxInt64, 1}, math.MaxInt64, false},
		{[]int64{0, math.MaxInt64, math.MaxInt64}, 0, false},
		{[]int64{1 << 32, 1 << 32}, 0, true},
		{[]int64{1 << 62, 2}, 0, true},
		{[]int64{3, 1 << 62, 4}, 0, true},                 // wraps to 0 in 64 bits
		{[]int64{1 << 32, 1 << 32, 1 << 32, 16}, 0, true}, // wraps to 0 too
		{[]int64{-1}, 0, true},
		{[]int64{-1, -1}, 0, true},
		{[]int64{2, -3, -4}, 0, true},
		{[]int64{math.MinInt64}, 0, true},
	} {
		got, err := Numel(tc.dims)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("Numel(%v) = %d, %v; want %d, error %v", tc.dims, got, err, tc.want, tc.err)
		}
	}
	if _, err := Numel([]int64{1 << 40, 1 << 40}); !errors.Is(err, ErrOverflow) {
		t.Errorf("overflow error %v is not ErrOverflow", err)
	}
}

func TestByteSize(t *testing.T) {
	for _, tc := range []struct {
		numel int64
		dt    DType
		want  int64
		err   bool
	}{
		{10, Float, 40, false},
		{10, Complex128, 160, false},
		{10, String, 0, false},
		{0, Double, 0, false},
		{math.MaxInt64 / 4, Float, math.MaxInt64 / 4 * 4, false},
		{math.MaxInt64/4 + 1, Float, 0, true},
		{math.MaxInt64, Bool, math.MaxInt64, false},
		{math.MaxInt64, Uint16, 0, true},
		{-1, Float, 0, true},
	} {
		got, err := ByteSize(tc.numel, tc.dt)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ByteSize(%d, %s) = %d, %v; want %d, error %v", tc.numel, tc.dt, got, err, tc.want, tc.err)
		}
	}
}

func TestDTypes(t *testing.T) {
	sizes := map[DType]int{Float: 4, Uint8: 1, Int8: 1, Uint16: 2, Int16: 2, Int32: 4, Int64: 8, String: 0,
		Bool: 1, Float16: 2, Double: 8, Uint32: 4, Uint64: 8, Complex64: 8, Complex128: 16, BFloat16: 2}
	for dt, size := range sizes {
		if !dt.Valid() {
			t.Errorf("%s not valid", dt)
		}
		if dt.Size() != size {
			t.Errorf("%s.Size() = %d, want %d", dt, dt.Size(), size)
		}
	}
	for _, dt := range []DType{Undefined, -1, 17, 23, 1000} {
		if dt.Valid() || dt.Size() != 0 {
			t.Errorf("%s: Valid %v, Size %d; want invalid and 0", dt, dt.Valid(), dt.Size())
		}
	}
	if Float.String() != "float32" || DType(99).String() != "dtype(99)" {
		t.Errorf("names: %s, %s", Float, DType(99))
	}
	for _, dt := range []DType{Float, Double, Float16, BFloat16} {
		if !dt.IsFloat() {
			t.Errorf("%s is a float type", dt)
		}
	}
	if Int64.IsFloat() || Complex64.IsFloat() {
		t.Error("integer and complex types are not float types")
	}
}

func TestTensorBasics(t *testing.T) {
	x := FromFloat32([]float32{0, 1, 0, 3, 0, 5}, 2, 3)
	if x.Numel() != 6 || x.Rank() != 2 || x.Bytes() != 24 {
		t.Errorf("Numel %d Rank %d Bytes %d", x.Numel(), x.Rank(), x.Bytes())
	}
	if got := x.ZeroFraction(); got != 0.5 {
		t.Errorf("ZeroFraction = %v", got)
	}
	if !slices.Equal(Strides([]int{2, 3, 4}), []int{12, 4, 1}) || len(Strides(nil)) != 0 {
		t.Errorf("Strides = %v", Strides([]int{2, 3, 4}))
	}
	c := x.Clone()
	c.F32[0], c.Shape[0] = 9, 7
	if x.F32[0] != 0 || x.Shape[0] != 2 {
		t.Error("Clone shares memory with the original")
	}
	s := &Tensor{DType: String, Shape: []int{2}, Str: [][]byte{[]byte("ab"), []byte("c")}}
	cs := s.Clone()
	cs.Str[0][0] = 'z'
	if string(s.Str[0]) != "ab" || s.Bytes() != 3 {
		t.Error("string Clone shares memory, or Bytes is wrong")
	}
	r := &Tensor{DType: Uint8, Shape: []int{3}, Raw: []byte{1, 2, 3}}
	if cr := r.Clone(); &cr.Raw[0] == &r.Raw[0] || r.Bytes() != 3 {
		t.Error("raw Clone shares memory, or Bytes is wrong")
	}
	if n := NewInt64(2, 2); len(n.I64) != 4 || n.DType != Int64 {
		t.Errorf("NewInt64 = %+v", n)
	}
	if n := New(); len(n.F32) != 1 || n.Rank() != 0 {
		t.Errorf("New() scalar = %+v", n)
	}
	for _, f := range []func(){
		func() { FromFloat32([]float32{1, 2}, 3) },
		func() { FromInt64([]int64{1}, 2, 2) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("a size mismatch did not panic")
				}
			}()
			f()
		}()
	}
}

// decodeDims reads zigzag varints from data: small and huge, positive and
// negative dims all have short encodings.
func decodeDims(data []byte) []int64 {
	var dims []int64
	for len(data) > 0 && len(dims) < 64 {
		v, n := binary.Varint(data)
		if n <= 0 {
			break
		}
		dims = append(dims, v)
		data = data[n:]
	}
	return dims
}

// FuzzNumel checks Numel and ByteSize against exact math/big arithmetic.
func FuzzNumel(f *testing.F) {
	enc := func(dims ...int64) []byte {
		var b []byte
		for _, d := range dims {
			b = binary.AppendVarint(b, d)
		}
		return b
	}
	f.Add(enc(), int32(Float))
	f.Add(enc(3, 4, 5), int32(Float))
	f.Add(enc(0, math.MaxInt64, math.MaxInt64), int32(Double))
	f.Add(enc(1<<32, 1<<32), int32(Uint8))
	f.Add(enc(3, 1<<62, 4), int32(Complex128))
	f.Add(enc(-1, -1), int32(Float))
	f.Add(enc(math.MaxInt64/8+1), int32(Int64))
	f.Add(enc(1<<31, 1<<31, 1), int32(String))
	f.Add(enc(math.MinInt64), int32(0))
	maxInt := big.NewInt(math.MaxInt64)
	f.Fuzz(func(t *testing.T, data []byte, dtype int32) {
		dims := decodeDims(data)
		got, err := Numel(dims)
		want := big.NewInt(1)
		negative, zero := false, false
		for _, d := range dims {
			negative = negative || d < 0
			zero = zero || d == 0
			want.Mul(want, big.NewInt(d))
		}
		switch {
		case negative:
			if err == nil {
				t.Fatalf("Numel(%v) = %d, accepted a negative dim", dims, got)
			}
			return
		case want.Cmp(maxInt) > 0:
			if !errors.Is(err, ErrOverflow) {
				t.Fatalf("Numel(%v) = %d, %v; the product %v overflows int64", dims, got, err, want)
			}
			return
		case err != nil:
			// Numel multiplies left to right, so a zero after a prefix
			// that already overflows is refused (conservatively) even
			// though the product is 0. Nothing else may be refused.
			if !zero || !errors.Is(err, ErrOverflow) {
				t.Fatalf("Numel(%v) refused %v: %v", dims, want, err)
			}
			return
		case got != want.Int64():
			t.Fatalf("Numel(%v) = %d, want %v", dims, got, want)
		}
		dt := DType(dtype)
		size, err := ByteSize(got, dt)
		wantSize := new(big.Int).Mul(want, big.NewInt(int64(dt.Size())))
		if wantSize.Cmp(maxInt) > 0 {
			if !errors.Is(err, ErrOverflow) {
				t.Fatalf("ByteSize(%d, %s) = %d, %v; %v overflows", got, dt, size, err, wantSize)
			}
		} else if err != nil || size != wantSize.Int64() {
			t.Fatalf("ByteSize(%d, %s) = %d, %v; want %v", got, dt, size, err, wantSize)
		}
	})
}

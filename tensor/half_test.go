package tensor

import (
	"math"
	"testing"
)

// TestFloat16RoundTrip converts every half value to float32 and back: the
// bits must survive (NaNs come back as a NaN), and the float32 value must
// match the definition sign·2^(e−15)·(1+m/1024) (subnormals m·2^−24).
func TestFloat16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := Float16To32(uint16(h))
		exp, mant := (h>>10)&0x1f, h&0x3ff
		var want float64
		switch {
		case exp == 0x1f && mant != 0:
			if !math.IsNaN(float64(f)) {
				t.Fatalf("%#04x: NaN became %v", h, f)
			}
			if b := Float32To16(f); b&0x7c00 != 0x7c00 || b&0x3ff == 0 {
				t.Fatalf("%#04x: NaN back as %#04x", h, b)
			}
			continue
		case exp == 0x1f:
			want = math.Inf(1)
		case exp == 0:
			want = float64(mant) * math.Pow(2, -24)
		default:
			want = (1 + float64(mant)/1024) * math.Pow(2, float64(exp-15))
		}
		if h&0x8000 != 0 {
			want = -want
		}
		if float64(f) != want {
			t.Fatalf("%#04x: %v, want %v", h, f, want)
		}
		if b := Float32To16(f); int(b) != h {
			t.Fatalf("%#04x: round trip gave %#04x", h, b)
		}
	}
	// Rounding to nearest even, and overflow.
	for _, c := range []struct {
		f    float32
		want uint16
	}{{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, {70000, 0x7c00}, {-70000, 0xfc00}, {1e-9, 0}} {
		if got := Float32To16(c.f); got != c.want {
			t.Errorf("Float32To16(%v) = %#04x, want %#04x", c.f, got, c.want)
		}
	}
}

package runtime

import (
	"math/rand"
	"testing"

	"github.com/podaml/poda/runtime/kernels"
)

// TestIm2colStrided checks im2colStrided (and its im2colShift fast path)
// against kernels.Im2col over random geometries, written with a row
// stride wider than a row, the padding between rows left untouched.
func TestIm2colStrided(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for it := 0; it < 3000; it++ {
		c, h, w := 1+r.Intn(3), 1+r.Intn(9), 1+r.Intn(9)
		kh, kw := 1+r.Intn(4), 1+r.Intn(4)
		pt, pl, pb, pr := r.Intn(4), r.Intn(4), r.Intn(4), r.Intn(4)
		sh, sw, dh, dw := 1+r.Intn(3), 1+r.Intn(3), 1+r.Intn(2), 1+r.Intn(2)
		if r.Intn(2) == 0 { // favour the stride-1 same-width path
			sh, sw = 1, 1
			pr = dw*(kw-1) - pl
			if pr < 0 {
				pl, pr = 0, dw*(kw-1)
			}
		}
		oh := kernels.ConvOutSize(h, kh, pt, pb, sh, dh)
		ow := kernels.ConvOutSize(w, kw, pl, pr, sw, dw)
		if oh == 0 || ow == 0 {
			continue
		}
		src := make([]float32, c*h*w)
		for i := range src {
			src[i] = float32(i + 1)
		}
		K, P := c*kh*kw, oh*ow
		want := make([]float32, K*P)
		kernels.Im2col(want, src, c, h, w, kh, kw, pt, pl, pb, pr, sh, sw, dh, dw)
		ld := P + r.Intn(5)
		got := make([]float32, (K-1)*ld+P)
		for i := range got {
			got[i] = -1
		}
		im2colStrided(got, ld, src, c, h, w, kh, kw, pt, pl, sh, sw, dh, dw, oh, ow)
		for k := 0; k < K; k++ {
			for q := 0; q < P; q++ {
				if got[k*ld+q] != want[k*P+q] {
					t.Fatalf("c%d %d×%d k%d×%d pad %d,%d,%d,%d s%d,%d d%d,%d: [%d,%d] = %v, want %v",
						c, h, w, kh, kw, pt, pl, pb, pr, sh, sw, dh, dw, k, q, got[k*ld+q], want[k*P+q])
				}
			}
			for q := P; q < ld && k < K-1; q++ {
				if got[k*ld+q] != -1 {
					t.Fatalf("wrote padding at row %d column %d", k, q)
				}
			}
		}
	}
}

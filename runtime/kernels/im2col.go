package kernels

import "fmt"

// ConvOutSize returns the output length of a convolution along one axis:
// (in + padBegin + padEnd - dil·(k-1) - 1)/stride + 1, or 0 if the
// dilated kernel does not fit.
func ConvOutSize(in, k, padBegin, padEnd, stride, dil int) int {
	span := in + padBegin + padEnd - dil*(k-1) - 1
	if span < 0 {
		return 0
	}
	return span/stride + 1
}

// Im2col unrolls the c×h×w image src for a kh×kw convolution into the
// [c·kh·kw, outH·outW] row-major matrix dst, so that Conv is
// W[Cout, c·kh·kw] × dst. Row (ci·kh + ki)·kw + kj, column oy·outW + ox holds
//
//	src[ci][oy·strideH - padT + ki·dilH][ox·strideW - padL + kj·dilW]
//
// or 0 where that falls in the padding. outH and outW are given by
// ConvOutSize. Im2col panics if a slice is too short or a stride or
// dilation is not positive.
func Im2col(dst, src []float32, c, h, w, kh, kw, padT, padL, padB, padR, strideH, strideW, dilH, dilW int) {
	outH, outW := checkConv("Im2col", len(dst), len(src), c, h, w, kh, kw, padT, padL, padB, padR, strideH, strideW, dilH, dilW)
	n := outH * outW
	if n == 0 {
		return
	}
	row := 0
	for ci := 0; ci < c; ci++ {
		img := src[ci*h*w : (ci+1)*h*w]
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				d := dst[row*n : (row+1)*n]
				row++
				x0, x1 := validRange(outW, w, padL-kj*dilW, strideW)
				for oy := 0; oy < outH; oy++ {
					dr := d[oy*outW : (oy+1)*outW]
					iy := oy*strideH - padT + ki*dilH
					if iy < 0 || iy >= h || x0 >= x1 {
						clear(dr)
						continue
					}
					clear(dr[:x0])
					clear(dr[x1:])
					ix := x0*strideW - padL + kj*dilW
					sr := img[iy*w : (iy+1)*w]
					if strideW == 1 {
						copy(dr[x0:x1], sr[ix:])
						continue
					}
					for ox := x0; ox < x1; ox++ {
						dr[ox] = sr[ix]
						ix += strideW
					}
				}
			}
		}
	}
}

// Col2im is the adjoint of Im2col: it adds every element of the
// [c·kh·kw, outH·outW] matrix col back into the c×h×w image dst at the
// position Im2col read it from (dst is accumulated into, not
// overwritten; padding positions are dropped). Conv's input gradient is
// Col2im(dx, Wᵀ × dy, …).
func Col2im(dst, col []float32, c, h, w, kh, kw, padT, padL, padB, padR, strideH, strideW, dilH, dilW int) {
	outH, outW := checkConv("Col2im", len(col), len(dst), c, h, w, kh, kw, padT, padL, padB, padR, strideH, strideW, dilH, dilW)
	n := outH * outW
	if n == 0 {
		return
	}
	row := 0
	for ci := 0; ci < c; ci++ {
		img := dst[ci*h*w : (ci+1)*h*w]
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				s := col[row*n : (row+1)*n]
				row++
				x0, x1 := validRange(outW, w, padL-kj*dilW, strideW)
				if x0 >= x1 {
					continue
				}
				for oy := 0; oy < outH; oy++ {
					iy := oy*strideH - padT + ki*dilH
					if iy < 0 || iy >= h {
						continue
					}
					sr := s[oy*outW : (oy+1)*outW]
					dr := img[iy*w : (iy+1)*w]
					ix := x0*strideW - padL + kj*dilW
					if strideW == 1 {
						addTo(dr[ix:ix+x1-x0], sr[x0:x1])
						continue
					}
					for ox := x0; ox < x1; ox++ {
						dr[ix] += sr[ox]
						ix += strideW
					}
				}
			}
		}
	}
}

// validRange returns the outputs [x0, x1) of an axis of length out whose
// input index ox·stride - off lies in [0, in).
func validRange(out, in, off, stride int) (x0, x1 int) {
	// ox·stride >= off  and  ox·stride < in + off
	if off > 0 {
		x0 = (off + stride - 1) / stride
	}
	if in+off <= 0 {
		return 0, 0
	}
	x1 = min(out, (in+off+stride-1)/stride)
	x0 = min(x0, x1)
	return x0, x1
}

func checkConv(fn string, colLen, imgLen, c, h, w, kh, kw, padT, padL, padB, padR, strideH, strideW, dilH, dilW int) (outH, outW int) {
	if c < 0 || h < 0 || w < 0 || kh < 1 || kw < 1 {
		panic(fmt.Sprintf("kernels: %s: bad shape c=%d h=%d w=%d kernel %d×%d", fn, c, h, w, kh, kw))
	}
	if padT < 0 || padL < 0 || padB < 0 || padR < 0 {
		panic(fmt.Sprintf("kernels: %s: negative padding", fn))
	}
	if strideH < 1 || strideW < 1 || dilH < 1 || dilW < 1 {
		panic(fmt.Sprintf("kernels: %s: stride %d×%d and dilation %d×%d must be positive", fn, strideH, strideW, dilH, dilW))
	}
	outH = ConvOutSize(h, kh, padT, padB, strideH, dilH)
	outW = ConvOutSize(w, kw, padL, padR, strideW, dilW)
	if imgLen < c*h*w {
		panic(fmt.Sprintf("kernels: %s: image has %d elements, want %d", fn, imgLen, c*h*w))
	}
	if colLen < c*kh*kw*outH*outW {
		panic(fmt.Sprintf("kernels: %s: column matrix has %d elements, want %d", fn, colLen, c*kh*kw*outH*outW))
	}
	return outH, outW
}

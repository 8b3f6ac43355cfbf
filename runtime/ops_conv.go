package runtime

import (
	"fmt"
	"sync"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Conv (any spatial rank; 1-D and 2-D through kernels.Im2col, others
// through a generic im2col) as im2col + GEMM with the bias and a fused
// activation in the GEMM epilogue. Special paths, chosen in prepare: no
// input channels or an empty output (the bias), 2-D depthwise
// convolutions (a stencil per channel), pruned weights (the sparse
// kernels and, for stride 1, the direct sparse convolution of
// ops_conv_sparse.go), dot products when an image has at most 4 output
// pixels, the implicit GEMM of ops_conv_implicit.go for most other
// ungrouped 1-D and 2-D ones, and several small images per GEMM in a
// batch. ConvTranspose (any spatial rank) is GEMM + col2im.

// convAttrs are the attributes Conv, ConvTranspose and the pools share.
type convAttrs struct {
	autoPad   string
	kernel    []int64
	strides   []int64
	dilations []int64
	pads      []int64
	group     int64
}

func parseConvAttrs(n *graph.Node) convAttrs {
	return convAttrs{
		autoPad:   n.Str("auto_pad", "NOTSET"),
		kernel:    n.Ints("kernel_shape", nil),
		strides:   n.Ints("strides", nil),
		dilations: n.Ints("dilations", nil),
		pads:      n.Ints("pads", nil),
		group:     n.Int("group", 1),
	}
}

// geom is the concrete geometry of a convolution or pooling window along
// each spatial axis.
type geom struct {
	in, k, out, padB, padE, stride, dil []int
}

// geometry resolves strides, dilations, padding (explicit or auto_pad) and
// output sizes. ceil selects pooling's ceil_mode.
func (a *convAttrs) geometry(in, kernel []int, ceil bool) (*geom, error) {
	r := len(in)
	g := &geom{in: in, k: kernel, out: make([]int, r), padB: make([]int, r), padE: make([]int, r),
		stride: make([]int, r), dil: make([]int, r)}
	get := func(v []int64, i int, def int) int {
		if v == nil {
			return def
		}
		return int(v[i])
	}
	if (a.strides != nil && len(a.strides) != r) || (a.dilations != nil && len(a.dilations) != r) ||
		(a.pads != nil && len(a.pads) != 2*r) {
		return nil, fmt.Errorf("strides %v, dilations %v or pads %v do not match %d spatial dims", a.strides, a.dilations, a.pads, r)
	}
	for i := 0; i < r; i++ {
		g.stride[i], g.dil[i] = get(a.strides, i, 1), get(a.dilations, i, 1)
		if g.stride[i] <= 0 || g.dil[i] <= 0 || kernel[i] <= 0 {
			return nil, fmt.Errorf("non-positive stride, dilation or kernel size")
		}
		span := g.dil[i]*(kernel[i]-1) + 1
		switch a.autoPad {
		case "NOTSET", "":
			g.padB[i], g.padE[i] = get(a.pads, i, 0), get(a.pads, i+r, 0)
		case "VALID":
		case "SAME_UPPER", "SAME_LOWER":
			out := (in[i] + g.stride[i] - 1) / g.stride[i]
			total := max(0, (out-1)*g.stride[i]+span-in[i])
			if a.autoPad == "SAME_UPPER" {
				g.padB[i], g.padE[i] = total/2, total-total/2
			} else {
				g.padB[i], g.padE[i] = total-total/2, total/2
			}
		default:
			return nil, fmt.Errorf("unknown auto_pad %q", a.autoPad)
		}
		num := in[i] + g.padB[i] + g.padE[i] - span
		if num < 0 {
			return nil, fmt.Errorf("window %d larger than padded input %d", span, in[i]+g.padB[i]+g.padE[i])
		}
		if ceil {
			g.out[i] = (num+g.stride[i]-1)/g.stride[i] + 1
			// The last window must start inside the input or left padding.
			if (g.out[i]-1)*g.stride[i] >= in[i]+g.padB[i] {
				g.out[i]--
			}
		} else {
			g.out[i] = num/g.stride[i] + 1
		}
	}
	return g, nil
}

type convOp struct {
	convAttrs
	act    activation
	fused  bool
	sparse sparseCache
	packed packedCache
}

// packedCache holds the GEMM-packed forms of a constant weight, per
// group, so that plans for other input shapes share them.
type packedCache struct {
	mu sync.Mutex
	w  *tensor.Tensor
	a  []*kernels.PackedA
}

// get returns w's groups (each rows×cols, row-major) packed as GEMM's A.
func (pc *packedCache) get(w *tensor.Tensor, groups, rows, cols int) []*kernels.PackedA {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.w != w || len(pc.a) != groups {
		pc.w, pc.a = w, nil
		for gi := 0; gi < groups; gi++ {
			pc.a = append(pc.a, kernels.PackA(false, rows, cols, 1, w.F32[gi*rows*cols:(gi+1)*rows*cols], cols))
		}
	}
	return pc.a
}

func init() {
	register("", "Conv", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &convOp{convAttrs: parseConvAttrs(n)}, nil
	})
	register("", "ConvTranspose", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &convTransposeOp{convAttrs: parseConvAttrs(n),
			outputPadding: n.Ints("output_padding", nil), outputShape: n.Ints("output_shape", nil)}, nil
	})
}

func (o *convOp) fuseAct(act *execNode, konst func(string) *tensor.Tensor) bool {
	if o.fused {
		return false
	}
	a, ok := parseAct(act, konst)
	if ok {
		o.act, o.fused = a, true
	}
	return ok
}

func (o *convOp) prepare(c *pctx) (runFunc, error) {
	x, w, b := c.input(0), c.input(1), c.input(2)
	if x.dtype != tensor.Float || w.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	r := len(x.shape) - 2
	if r < 1 || len(w.shape) != r+2 {
		return nil, fmt.Errorf("X %v and W %v are not a convolution", x.shape, w.shape)
	}
	N, C, M := x.shape[0], x.shape[1], w.shape[0]
	G := int(o.group)
	if G <= 0 || C%G != 0 || M%G != 0 || w.shape[1] != C/G {
		return nil, fmt.Errorf("X %v, W %v and group %d do not match", x.shape, w.shape, G)
	}
	if o.kernel != nil && !sameInts(intsOf(o.kernel), w.shape[2:]) {
		return nil, fmt.Errorf("kernel_shape %v differs from W %v", o.kernel, w.shape)
	}
	if b != nil && (b.numel() != M || b.dtype != tensor.Float) {
		return nil, fmt.Errorf("bias %v for %d output channels", b.shape, M)
	}
	g, err := o.geometry(x.shape[2:], w.shape[2:], false)
	if err != nil {
		return nil, err
	}
	c.set(0, tensor.Float, append([]int{N, M}, g.out...))
	Cg, Mg := C/G, M/G
	P := tensor.Prod(g.out)
	HW := tensor.Prod(x.shape[2:])
	K := Cg * tensor.Prod(w.shape[2:])
	act := o.act
	if K == 0 || N*M*P == 0 {
		return biasOnly(b != nil, N, M, P, act), nil
	}

	if r == 2 && Cg == 1 && Mg == 1 {
		return o.depthwise(c, g, N, C, act)
	}

	if run, ok := o.sparseDirect(c, g, act); ok {
		return run, nil
	}

	pointwise := true
	for i := 0; i < r; i++ {
		if g.k[i] != 1 || g.stride[i] != 1 || g.padB[i] != 0 || g.padE[i] != 0 {
			pointwise = false
		}
	}
	// 1-D convolutions are 2-D ones of height 1.
	// im2col writes the rows of channels [c0, c1) of the group's im2col
	// matrix, so that large images can be unrolled in parallel.
	var im2col func(dst, src []float32, c0, c1 int)
	// im2colAt writes an image's im2col matrix with row stride ld, for
	// several images side by side (2-D and 1-D only).
	var im2colAt func(dst []float32, ld int, src []float32)
	kk := tensor.Prod(w.shape[2:])
	switch {
	case pointwise:
	case r <= 2:
		gh, gw := g, g
		h, kh, pt, sh, dh := 1, 1, 0, 1, 1
		wi := 0
		if r == 2 {
			h, kh, pt, sh, dh = gh.in[0], gh.k[0], gh.padB[0], gh.stride[0], gh.dil[0]
			wi = 1
		}
		w0, kw, pl, sw, dw := gw.in[wi], gw.k[wi], gw.padB[wi], gw.stride[wi], gw.dil[wi]
		oh, ow := 1, g.out[wi]
		if r == 2 {
			oh = g.out[0]
		}
		im2col = func(dst, src []float32, c0, c1 int) {
			im2colStrided(dst[c0*kk*P:c1*kk*P], P, src[c0*HW:c1*HW], c1-c0, h, w0, kh, kw, pt, pl, sh, sw, dh, dw, oh, ow)
		}
		im2colAt = func(dst []float32, ld int, src []float32) {
			im2colStrided(dst, ld, src, Cg, h, w0, kh, kw, pt, pl, sh, sw, dh, dw, oh, ow)
		}
	default:
		im2col = func(dst, src []float32, c0, c1 int) {
			im2colND(dst[c0*kk*P:c1*kk*P], src[c0*HW:c1*HW], c1-c0, g)
		}
	}
	colSize := 0
	if im2col != nil {
		colSize = K * P
	}
	items := N * G
	threads := max(1, min(c.threads, items, items*K*P*Mg/parallelMin))
	// Few output pixels: dot products against the transposed im2col
	// matrix read the weights once, where GEMM would first pack them.
	var sparse []kernels.SparseMatrix
	if c.sparseWeight(1) && K > 0 && P > 0 {
		wt := w.konst
		for gi := 0; gi < G; gi++ {
			wg := wt.F32[gi*Mg*K : (gi+1)*Mg*K]
			sm := o.sparse.get(c, wt, gi, P, func() []float32 { return wg }, Mg, K)
			if sm == nil {
				sparse = nil
				break
			}
			sparse = append(sparse, sm)
		}
	}
	c.layerFormat = "dense"
	if sparse != nil {
		c.layerFormat = sparse[0].Format()
	}
	skinny := P <= skinnyPixels && sparse == nil
	stride := colSize
	var taps []int
	if skinny {
		// The transposed im2col matrix instead of the im2col one.
		stride, taps, colSize = K*P, skinnyTaps(g), 0
	}
	c.scratch = threads * stride
	// Epilogues per group, when the bias is known now (the usual case).
	var eps []*kernels.Epilogue
	if b == nil || b.konst != nil {
		for gi := 0; gi < G; gi++ {
			var bias []float32
			if b != nil {
				bias = b.konst.F32[gi*Mg : (gi+1)*Mg]
			}
			eps = append(eps, act.epilogue(bias, true))
		}
	}
	// One group: an implicit GEMM where it pays (ops_conv_implicit.go).
	if G == 1 && r <= 2 && sparse == nil && !skinny && w.konst != nil {
		if p := planImplicit(g, N, C, M, c.threads); p != nil {
			return o.implicit(c, p, w.konst, eps, act), nil
		}
	}
	cp := &convPlan{G: G, C: C, Cg: Cg, M: M, Mg: Mg, HW: HW, P: P, K: K, colSize: colSize, im2col: im2col,
		skinny: skinny, taps: taps, stride: stride, rowThreads: max(1, min(c.threads/threads, Mg, Mg*K*P/parallelMin))}
	if threads == 1 && im2col != nil {
		cp.colThreads = max(1, min(c.threads, Cg, K*P/parallelMin))
	}
	cp.sparse = sparse
	// Constant dense weights are packed for the GEMM once, not per call,
	// where the output is small enough (fewer than batchedConvPixels per
	// image) for repacking them to cost a noticeable share: the packed
	// copy is about as large as the weights.
	if sparse == nil && !skinny && w.konst != nil && Mg*K > 0 && P < batchedConvPixels {
		cp.packed = o.packed.get(w.konst, G, Mg, K)
	}
	// Small images in a batch: several images per GEMM, so that the
	// weights are packed once per batch block rather than once per image.
	if N > 1 && G == 1 && P < batchedConvPixels && cp.sparse == nil && !skinny {
		cp.imgs = max(1, min(N, batchedConvFloats/((K+M)*P)))
		cp.im2colAt = im2colAt
		cp.threads = max(1, min(c.threads, cp.imgs))
		c.scratch = cp.imgs*(K+M)*P + cp.threads*K*P
		return func(e *env, in, out []*tensor.Tensor) error {
			ep := eps
			if ep == nil {
				ep = []*kernels.Epilogue{act.epilogue(in[2].F32, true)}
			}
			convBatched(cp, N, in[0].F32, in[1].F32, out[0].F32, ep[0], e.scratch)
			return nil
		}, nil
	}
	return func(e *env, in, out []*tensor.Tensor) error {
		ep := eps
		if ep == nil {
			for gi := 0; gi < G; gi++ {
				ep = append(ep, act.epilogue(in[2].F32[gi*Mg:(gi+1)*Mg], true))
			}
		}
		parallelChunks(threads, items, convJob{cp, in[0].F32, in[1].F32, out[0].F32, ep, e.scratch})
		return nil
	}, nil
}

// Batched convolution applies to outputs of fewer than batchedConvPixels
// pixels per image, with blocks of images whose im2col matrix and GEMM
// output together take at most batchedConvFloats floats (4 MiB).
const (
	batchedConvPixels = 1024
	batchedConvFloats = 1 << 20
)

// convBatched convolves blocks of cp.imgs images with one GEMM each: the
// images' im2col matrices side by side ([K, imgs·P]) times the weights
// gives [M, imgs·P], which is then scattered to [imgs, M, P]. The
// unrolling and the scatter are split across images on cp.threads
// goroutines (the GEMM splits itself).
func convBatched(cp *convPlan, N int, X, W, Y []float32, ep *kernels.Epilogue, scratch []float32) {
	K, M, P := cp.K, cp.M, cp.P
	for n0 := 0; n0 < N; n0 += cp.imgs {
		nb := min(cp.imgs, N-n0)
		width := nb * P
		col := scratch[:K*width]
		tmp := scratch[cp.imgs*K*P : cp.imgs*K*P+M*width]
		bj := batchJob{cp, X, Y, col, tmp, scratch[cp.imgs*(K+M)*P:], n0, width, false}
		t := max(1, min(cp.threads, nb, nb*K*P/parallelMin))
		parallelChunks(t, nb, bj)
		if cp.packed != nil {
			kernels.SgemmPacked(cp.packed[0], false, width, col, width, 0, tmp, width, ep)
		} else {
			kernels.SgemmEpilogue(false, false, M, width, K, 1, W, K, col, width, 0, tmp, width, ep)
		}
		bj.scatter = true
		parallelChunks(max(1, min(cp.threads, nb, nb*M*P/parallelMin)), nb, bj)
	}
}

// batchJob unrolls images [n0+lo, n0+hi) into their columns of col, or
// (scatter) copies their columns of tmp to Y.
type batchJob struct {
	cp                  *convPlan
	X, Y, col, tmp, one []float32
	n0, width           int
	scatter             bool
}

func (j batchJob) chunk(t, lo, hi int) {
	cp := j.cp
	K, M, P, C, HW, width := cp.K, cp.M, cp.P, cp.C, cp.HW, j.width
	for i := lo; i < hi; i++ {
		n := j.n0 + i
		if j.scatter {
			dst := j.Y[n*M*P : (n+1)*M*P]
			for m := 0; m < M; m++ {
				copy(dst[m*P:(m+1)*P], j.tmp[m*width+i*P:m*width+(i+1)*P])
			}
			continue
		}
		src := j.X[n*C*HW : (n+1)*C*HW]
		switch {
		case cp.im2col == nil:
			// Pointwise: the image is already [K = C, P].
			for k := 0; k < K; k++ {
				copy(j.col[k*width+i*P:k*width+(i+1)*P], src[k*P:(k+1)*P])
			}
		case cp.im2colAt != nil:
			cp.im2colAt(j.col[i*P:], width, src)
		default:
			// Im2col writes a contiguous [K, P]; spread its rows out.
			one := j.one[t*K*P : (t+1)*K*P]
			cp.im2col(one, src, 0, cp.Cg)
			for k := 0; k < K; k++ {
				copy(j.col[k*width+i*P:k*width+(i+1)*P], one[k*P:(k+1)*P])
			}
		}
	}
}

// im2colStrided is kernels.Im2col writing row r of the [c·kh·kw, oh·ow]
// matrix at dst[r·ld:], so that several images' matrices can sit side by
// side.
func im2colStrided(dst []float32, ld int, src []float32, c, h, w, kh, kw, pt, pl, sh, sw, dh, dw, oh, ow int) {
	n := oh * ow
	row := 0
	for ci := 0; ci < c; ci++ {
		img := src[ci*h*w : (ci+1)*h*w]
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				d := dst[row*ld : row*ld+n]
				row++
				// Output columns [x0, x1) read inside the image.
				off := kj*dw - pl
				x0, x1 := 0, ow
				for x0 < x1 && x0*sw+off < 0 {
					x0++
				}
				for x1 > x0 && (x1-1)*sw+off >= w {
					x1--
				}
				if sh == 1 && sw == 1 && ow == w {
					im2colShift(d, img, h, w, oh, ki*dh-pt, off, x0, x1)
					continue
				}
				for oy := 0; oy < oh; oy++ {
					dr := d[oy*ow : (oy+1)*ow]
					iy := oy*sh - pt + ki*dh
					if iy < 0 || iy >= h || x0 >= x1 {
						clear(dr)
						continue
					}
					clear(dr[:x0])
					clear(dr[x1:])
					sr := img[iy*w : (iy+1)*w]
					ix := x0*sw + off
					if sw == 1 {
						copy(dr[x0:x1], sr[ix:ix+x1-x0])
						continue
					}
					for ox := x0; ox < x1; ox++ {
						dr[ox] = sr[ix]
						ix += sw
					}
				}
			}
		}
	}
}

// im2colShift is one row of im2colStrided for stride 1 and an output as
// wide as the input: the row is then the image shifted by dy rows and dx
// columns, so one copy moves it, and the columns [0, x0) and [x1, w)
// that wrapped around from the neighbouring input rows, and the output
// rows whose input row is outside the image, are zeroed.
func im2colShift(d, img []float32, h, w, oh, dy, dx, x0, x1 int) {
	oy0, oy1 := max(0, -dy), min(oh, h-dy)
	if oy0 >= oy1 || x0 >= x1 {
		clear(d)
		return
	}
	clear(d[:oy0*w])
	clear(d[oy1*w:])
	q0, q1 := oy0*w, oy1*w
	s0, s1 := q0+dy*w+dx, q1+dy*w+dx
	// The ends that fall outside the image are wrapped-around columns.
	if s0 < 0 {
		q0, s0 = q0-s0, 0
	}
	if s1 > h*w {
		q1, s1 = q1-(s1-h*w), h*w
	}
	copy(d[q0:q1], img[s0:s1])
	if x0 == 0 && x1 == w {
		return
	}
	for oy := oy0; oy < oy1; oy++ {
		row := d[oy*w : (oy+1)*w]
		for x := 0; x < x0; x++ {
			row[x] = 0
		}
		for x := x1; x < w; x++ {
			row[x] = 0
		}
	}
}

// biasOnly runs a convolution with nothing to multiply (no input
// channels, or an empty output): each output is its channel's bias, or
// zero, through the activation.
func biasOnly(bias bool, N, M, P int, act activation) runFunc {
	return func(e *env, in, out []*tensor.Tensor) error {
		Y := out[0].F32
		for i := 0; i < N*M; i++ {
			v := float32(0)
			if bias {
				v = in[2].F32[i%M]
			}
			row := Y[i*P : (i+1)*P]
			for q := range row {
				row[q] = v
			}
			act.apply(row)
		}
		return nil
	}
}

// convPlan is a convolution's geometry, fixed when planning.
type convPlan struct {
	G, C, Cg, M, Mg, HW, P, K, colSize int
	im2col                             func(dst, src []float32, c0, c1 int)
	im2colAt                           func(dst []float32, ld int, src []float32)
	threads                            int                    // goroutines for convBatched's unrolling and scatter
	sparse                             []kernels.SparseMatrix // per group, for pruned weights
	packed                             []*kernels.PackedA     // per group, constant dense weights packed for GEMM
	imgs                               int                    // images per GEMM in convBatched
	skinny                             bool                   // dot products instead of GEMM
	taps                               []int                  // skinny: see skinnyTaps
	stride                             int                    // scratch floats per chunk
	rowThreads                         int                    // goroutines over rows in the skinny path
	colThreads                         int                    // goroutines over channels in im2col
}

type im2colJob struct {
	f        func(dst, src []float32, c0, c1 int)
	dst, src []float32
}

func (j im2colJob) chunk(_, lo, hi int) { j.f(j.dst, j.src, lo, hi) }

// skinnyPixels is the largest output size (pixels per image) for which
// convolutions use kernels.MultiDot rather than GEMM. Measured on 3×3
// convolutions (BenchmarkConvSmallImages, CPU time): at 512 channels on
// 2×2, MultiDot takes half of GEMM's time; at 6 pixels about 0.85, at 8
// as long, at 9 and 12 longer, and at 256 channels on 4×4 and 128 on
// 8×8 twice as long.
const skinnyPixels = 4

type convJob struct {
	p       *convPlan
	X, W, Y []float32
	eps     []*kernels.Epilogue
	scratch []float32
}

// chunk convolves items [lo, hi), an item being one image and group.
func (j convJob) chunk(t, lo, hi int) {
	p := j.p
	col := j.scratch[t*p.stride : t*p.stride+p.colSize]
	for it := lo; it < hi; it++ {
		n, gi := it/p.G, it%p.G
		src := j.X[(n*p.C+gi*p.Cg)*p.HW : (n*p.C+(gi+1)*p.Cg)*p.HW]
		Y := j.Y[(n*p.M+gi*p.Mg)*p.P : (n*p.M+(gi+1)*p.Mg)*p.P]
		if p.skinny {
			colT := j.scratch[t*p.stride : (t+1)*p.stride]
			gatherT(colT, src, p.taps, p.Cg, p.HW, p.K/p.Cg)
			skinnyJob{p, j.W[gi*p.Mg*p.K : (gi+1)*p.Mg*p.K], colT, Y, j.eps[gi]}.run()
			continue
		}
		B := src
		if p.im2col != nil {
			parallelChunks(p.colThreads, p.Cg, im2colJob{p.im2col, col, src})
			B = col
		}
		if p.sparse != nil {
			p.sparse[gi].MulDense(Y, p.P, B, p.P, p.P, 0, j.eps[gi])
			continue
		}
		if p.packed != nil {
			kernels.SgemmPacked(p.packed[gi], false, p.P, B, p.P, 0, Y, p.P, j.eps[gi])
			continue
		}
		kernels.SgemmEpilogue(false, false, p.Mg, p.P, p.K, 1, j.W[gi*p.Mg*p.K:(gi+1)*p.Mg*p.K], p.K, B, p.P, 0, Y, p.P, j.eps[gi])
	}
}

// skinnyTaps returns, for each output pixel q and kernel offset t (row-
// major over the kernel's shape), at [q·Πk + t], the offset in a
// channel's image of the input the tap reads, or -1 where it reads the
// padding.
func skinnyTaps(g *geom) []int {
	kk := tensor.Prod(g.k)
	taps := make([]int, tensor.Prod(g.out)*kk)
	ndTaps(1, g, g.out, g.in, func(t, q, _, off int, ok bool) {
		if !ok {
			off = -1
		}
		taps[q*kk+t] = off
	})
	return taps
}

// gatherT writes the transposed im2col matrix of src, cg channels of hw
// values, for a kernel of kk taps at the pixels of skinnyTaps: row q of
// colT holds, for each channel in turn, the values its taps read (0 in
// the padding).
func gatherT(colT, src []float32, taps []int, cg, hw, kk int) {
	K := cg * kk
	for q := 0; q < len(taps)/kk; q++ {
		tq := taps[q*kk : (q+1)*kk]
		row := colT[q*K : (q+1)*K]
		for ci := 0; ci < cg; ci++ {
			img := src[ci*hw : (ci+1)*hw]
			d := row[ci*kk : (ci+1)*kk]
			for t, o := range tq {
				if o < 0 {
					d[t] = 0
				} else {
					d[t] = img[o]
				}
			}
		}
	}
}

type skinnyJob struct {
	p          *convPlan
	W, colT, Y []float32
	ep         *kernels.Epilogue
}

// run computes all output rows on p.rowThreads goroutines, which take
// blocks of rows as they finish: the weights stream from memory, which
// one goroutine nearly saturates, so when the other starts late or loses
// its core (the machines are shared) the first does its share.
func (j skinnyJob) run() {
	p := j.p
	if p.rowThreads <= 1 {
		j.rows(0, p.Mg)
		return
	}
	parallelChunksOn(p.rowThreads, min(p.Mg, 8*p.rowThreads), p.Mg, j)
}

// chunk computes the output rows [lo, hi).
func (j skinnyJob) chunk(_, lo, hi int) { j.rows(lo, hi) }

// rows computes output rows [lo, hi): Y[m, q] = W[m]·colT[q], then the
// bias and activation.
func (j skinnyJob) rows(lo, hi int) {
	K, P := j.p.K, j.p.P
	ep := *j.ep
	if ep.Bias != nil {
		ep.Bias = ep.Bias[lo:hi]
	}
	kernels.MultiDot(hi-lo, P, K, j.W[lo*K:hi*K], K, j.colT, K, j.Y[lo*P:hi*P], P, &ep)
}

func intsOf(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

// depthwise is the direct kernel for 2-D convolutions with one input and
// one output channel per group. Each channel's image is copied, with its
// zero padding, into sh row phases (phase a holds the padded image's rows
// a, a+sh, …): every tap then reads one phase at a fixed offset from the
// output pixel, so the output at all columns, laid out with the padded
// row stride, is one kernels.Stencil, of which every sw-th column is
// kept. The padding adds w·0 terms where a direct loop would skip the
// tap: the same results except that an infinite or NaN weight then makes
// NaN at the border, and a -0 sum becomes +0.
func (o *convOp) depthwise(c *pctx, g *geom, N, C int, act activation) (runFunc, error) {
	kh, kw := g.k[0], g.k[1]
	oh, ow := g.out[0], g.out[1]
	sh, sw := g.stride[0], g.stride[1]
	dh, dw := g.dil[0], g.dil[1]
	// The padded image, large enough for every tap of every output pixel.
	hp := max(g.in[0]+g.padB[0], (oh-1)*sh+(kh-1)*dh+1)
	wp := max(g.in[1]+g.padB[1], (ow-1)*sw+(kw-1)*dw+1)
	dp := &dwPlan{C: C, H: g.in[0], W: g.in[1], oh: oh, ow: ow, pt: g.padB[0], pl: g.padB[1], sh: sh, sw: sw,
		hq: (hp + sh - 1) / sh, wp: wp, act: act}
	// The stencil's outputs, rounded up to whole vectors (the extra ones,
	// past the last pixel, are not used): small images then skip the
	// kernel's scalar tail. The phases get as many zeros after them.
	n := (oh-1)*wp + (ow-1)*sw + 1
	dp.n = (n + 7) &^ 7
	dp.phases = sh*dp.hq*wp + dp.n - n
	for ki := 0; ki < kh; ki++ {
		for kj := 0; kj < kw; kj++ {
			y := ki * dh
			dp.offs = append(dp.offs, ((y%sh)*dp.hq+y/sh)*wp+kj*dw)
		}
	}
	dp.scratch = dp.phases + dp.n
	c.scratch = c.threads * dp.scratch
	return func(e *env, in, out []*tensor.Tensor) error {
		var bias []float32
		if len(in) > 2 && in[2] != nil {
			bias = in[2].F32
		}
		forRange(e, N*C, N*C*oh*ow*kh*kw, dwJob{dp, in[0].F32, in[1].F32, bias, out[0].F32, e.scratch})
		return nil
	}, nil
}

// dwPlan is a depthwise convolution's geometry: see depthwise.
type dwPlan struct {
	C, H, W, oh, ow, pt, pl, sh, sw int
	hq, wp                          int   // rows of a phase, columns of the padded image
	n                               int   // outputs of the stencil (row stride wp)
	phases                          int   // floats of the phases
	offs                            []int // per tap, its offset in the phases
	scratch                         int   // floats per goroutine: the phases, then the stencil's output
	act                             activation
}

type dwJob struct {
	p                       *dwPlan
	X, Wt, bias, Y, scratch []float32
}

// chunk convolves the channels [lo, hi) of all images (it = n·C + ch).
func (j dwJob) chunk(t, lo, hi int) {
	p := j.p
	H, W, oh, ow, kk := p.H, p.W, p.oh, p.ow, len(p.offs)
	buf := j.scratch[t*p.scratch : (t+1)*p.scratch]
	phases, acc := buf[:p.phases], buf[p.phases:]
	for it := lo; it < hi; it++ {
		ch := it % p.C
		p.fill(phases, j.X[it*H*W:(it+1)*H*W])
		b := float32(0)
		if j.bias != nil {
			b = j.bias[ch]
		}
		kernels.Stencil(acc, phases, j.Wt[ch*kk:(ch+1)*kk], p.offs, b)
		dst := j.Y[it*oh*ow : (it+1)*oh*ow]
		for oy := 0; oy < oh; oy++ {
			row, src := dst[oy*ow:(oy+1)*ow], acc[oy*p.wp:]
			if p.sw == 1 {
				copy(row, src)
				continue
			}
			for ox := range row {
				row[ox] = src[ox*p.sw]
			}
		}
		p.act.apply(dst)
	}
}

// fill zeroes the phases and copies the image img into them.
func (p *dwPlan) fill(phases, img []float32) {
	clear(phases)
	padRows(phases, img, p.H, p.W, p.wp, p.pt, p.pl, p.sh, p.hq)
}

// padRows copies the H×W image img into dst, a zeroed padded image of row
// width wp split by rows into sh phases of hq rows each (sh = 1: one plain
// padded plane): padded row y + pt, holding image row y at column pl, is
// row (y+pt)/sh of phase (y+pt)%sh. The padding is left as it is.
func padRows(dst, img []float32, H, W, wp, pt, pl, sh, hq int) {
	a, r := pt%sh, pt/sh
	for y := 0; y < H; y++ {
		copy(dst[(a*hq+r)*wp+pl:][:W], img[y*W:(y+1)*W])
		if a++; a == sh {
			a, r = 0, r+1
		}
	}
}

// im2colND is Im2col for any number of spatial dims: row (ci, kernel
// offset), column output position.
func im2colND(dst, src []float32, C int, g *geom) {
	P := tensor.Prod(g.out)
	inSize := tensor.Prod(g.in)
	ndTaps(C, g, g.out, g.in, func(row, p, ci, off int, ok bool) {
		if ok {
			dst[row*P+p] = src[ci*inSize+off]
		} else {
			dst[row*P+p] = 0
		}
	})
}

// ndTaps walks the [C·Πk, Πfrom] matrix of an N-d convolution: for row
// (ci, kernel offset) and column p (a position on the from grid), the
// matching position on the to grid is from·stride − padB + k·dil; visit
// gets its offset in channel ci's image, or ok false when it falls outside.
// im2col walks from the output grid to the input, col2im the reverse.
func ndTaps(C int, g *geom, from, to []int, visit func(row, p, ci, off int, ok bool)) {
	r := len(g.in)
	P := tensor.Prod(from)
	toStr := tensor.Strides(to)
	kk := tensor.Prod(g.k)
	var kidx, fidx [maxRank]int
	row := 0
	for ci := 0; ci < C; ci++ {
		for kp := 0; kp < kk; kp++ {
			rem := kp
			for d := r - 1; d >= 0; d-- {
				kidx[d] = rem % g.k[d]
				rem /= g.k[d]
			}
			for p := 0; p < P; p++ {
				rem := p
				for d := r - 1; d >= 0; d-- {
					fidx[d] = rem % from[d]
					rem /= from[d]
				}
				off, ok := 0, true
				for d := 0; d < r; d++ {
					i := fidx[d]*g.stride[d] - g.padB[d] + kidx[d]*g.dil[d]
					if i < 0 || i >= to[d] {
						ok = false
						break
					}
					off += i * toStr[d]
				}
				visit(row, p, ci, off, ok)
			}
			row++
		}
	}
}

type convTransposeOp struct {
	convAttrs
	outputPadding, outputShape []int64
}

func (o *convTransposeOp) prepare(c *pctx) (runFunc, error) {
	x, w, b := c.input(0), c.input(1), c.input(2)
	if x.dtype != tensor.Float || w.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	r := len(x.shape) - 2
	if r < 1 || len(w.shape) != r+2 {
		return nil, fmt.Errorf("X %v and W %v are not a convolution", x.shape, w.shape)
	}
	N, C := x.shape[0], x.shape[1]
	G := int(o.group)
	if G <= 0 || C%G != 0 || w.shape[0] != C {
		return nil, fmt.Errorf("X %v, W %v and group %d do not match", x.shape, w.shape, G)
	}
	Cg, Mg := C/G, w.shape[1]
	M := Mg * G
	if b != nil && b.numel() != M {
		return nil, fmt.Errorf("bias %v for %d output channels", b.shape, M)
	}
	k := w.shape[2:]
	in := x.shape[2:]
	get := func(v []int64, i, def int) int {
		if v == nil || i >= len(v) {
			return def
		}
		return int(v[i])
	}
	out := make([]int, r)
	padB, padE := make([]int, r), make([]int, r)
	stride, dil := make([]int, r), make([]int, r)
	for i := 0; i < r; i++ {
		stride[i], dil[i] = get(o.strides, i, 1), get(o.dilations, i, 1)
		span := (k[i]-1)*dil[i] + 1
		op := get(o.outputPadding, i, 0)
		full := stride[i]*(in[i]-1) + op + span
		switch {
		case o.outputShape != nil:
			os := o.outputShape[len(o.outputShape)-r:]
			out[i] = int(os[i])
			total := max(0, full-out[i]) // a larger output is zero beyond the full one
			if o.autoPad == "SAME_UPPER" {
				padB[i], padE[i] = total/2, total-total/2
			} else {
				padB[i], padE[i] = total-total/2, total/2
			}
		case o.autoPad == "SAME_UPPER" || o.autoPad == "SAME_LOWER":
			out[i] = in[i] * stride[i]
			total := full - out[i]
			if o.autoPad == "SAME_UPPER" {
				padB[i], padE[i] = total/2, total-total/2
			} else {
				padB[i], padE[i] = total-total/2, total/2
			}
		default:
			padB[i], padE[i] = get(o.pads, i, 0), get(o.pads, i+r, 0)
			out[i] = full - padB[i] - padE[i]
		}
		if out[i] <= 0 {
			return nil, fmt.Errorf("output size %d along axis %d", out[i], i)
		}
	}
	c.set(0, tensor.Float, append([]int{N, M}, out...))
	if r > 2 {
		return o.prepareND(c, &geom{in: in, k: k, out: out, padB: padB, padE: padE, stride: stride, dil: dil}, N, C, G, Cg, Mg)
	}
	// As a 2-D problem (1-D has height 1).
	h, oh, kh, pt, sh, dh := 1, 1, 1, 0, 1, 1
	wi := 0
	if r == 2 {
		h, oh, kh, pt, sh, dh = in[0], out[0], k[0], padB[0], stride[0], dil[0]
		wi = 1
	}
	w0, ow, kw, pl, sw, dw := in[wi], out[wi], k[wi], padB[wi], stride[wi], dil[wi]
	HW, OHW := h*w0, oh*ow
	KK := Mg * kh * kw
	c.scratch = KK * HW
	return func(e *env, in, out []*tensor.Tensor) error {
		X, W, Y := in[0].F32, in[1].F32, out[0].F32
		clear(Y)
		col := e.scratch[:KK*HW]
		for n := 0; n < N; n++ {
			for gi := 0; gi < G; gi++ {
				xg := X[(n*C+gi*Cg)*HW : (n*C+(gi+1)*Cg)*HW]
				wg := W[gi*Cg*KK : (gi+1)*Cg*KK]
				kernels.Sgemm(true, false, KK, HW, Cg, 1, wg, KK, xg, HW, 0, col, HW)
				col2imCrop(Y[(n*M+gi*Mg)*OHW:(n*M+(gi+1)*Mg)*OHW], col, Mg, oh, ow, kh, kw, pt, pl, sh, sw, dh, dw, h, w0)
			}
		}
		if len(in) > 2 && in[2] != nil {
			for n := 0; n < N; n++ {
				for m := 0; m < M; m++ {
					kernels.AddConst(in[2].F32[m], Y[(n*M+m)*OHW:(n*M+m+1)*OHW])
				}
			}
		}
		return nil
	}, nil
}

// col2imCrop adds the [c·kh·kw, h·w] matrix col into the c×oh×ow image dst:
// column (iy, ix) and row (ci, ki, kj) land at (iy·sh - pt + ki·dh,
// ix·sw - pl + kj·dw) when that is inside the image.
func col2imCrop(dst, col []float32, c, oh, ow, kh, kw, pt, pl, sh, sw, dh, dw, h, w int) {
	n := h * w
	row := 0
	for ci := 0; ci < c; ci++ {
		img := dst[ci*oh*ow : (ci+1)*oh*ow]
		for ki := 0; ki < kh; ki++ {
			for kj := 0; kj < kw; kj++ {
				s := col[row*n : (row+1)*n]
				row++
				for iy := 0; iy < h; iy++ {
					y := iy*sh - pt + ki*dh
					if y < 0 || y >= oh {
						continue
					}
					dr := img[y*ow : (y+1)*ow]
					sr := s[iy*w : (iy+1)*w]
					for ix := 0; ix < w; ix++ {
						if x := ix*sw - pl + kj*dw; x >= 0 && x < ow {
							dr[x] += sr[ix]
						}
					}
				}
			}
		}
	}
}

// prepareND is ConvTranspose for three or more spatial dims: the same
// GEMM, then col2imND.
func (o *convTransposeOp) prepareND(c *pctx, g *geom, N, C, G, Cg, Mg int) (runFunc, error) {
	M := Mg * G
	HW, OHW := tensor.Prod(g.in), tensor.Prod(g.out)
	KK := Mg * tensor.Prod(g.k)
	c.scratch = KK * HW
	return func(e *env, in, out []*tensor.Tensor) error {
		X, W, Y := in[0].F32, in[1].F32, out[0].F32
		clear(Y)
		col := e.scratch[:KK*HW]
		for n := 0; n < N; n++ {
			for gi := 0; gi < G; gi++ {
				xg := X[(n*C+gi*Cg)*HW : (n*C+(gi+1)*Cg)*HW]
				wg := W[gi*Cg*KK : (gi+1)*Cg*KK]
				kernels.Sgemm(true, false, KK, HW, Cg, 1, wg, KK, xg, HW, 0, col, HW)
				col2imND(Y[(n*M+gi*Mg)*OHW:(n*M+(gi+1)*Mg)*OHW], col, Mg, g)
			}
		}
		if len(in) > 2 && in[2] != nil {
			for n := 0; n < N; n++ {
				for m := 0; m < M; m++ {
					kernels.AddConst(in[2].F32[m], Y[(n*M+m)*OHW:(n*M+m+1)*OHW])
				}
			}
		}
		return nil
	}, nil
}

// col2imND adds the [c·Πk, Πin] matrix col into the c×out… image dst:
// row (ci, kernel offset), column input position i lands at output
// position i·stride - padB + k·dil when that is inside the image.
func col2imND(dst, col []float32, C int, g *geom) {
	P := tensor.Prod(g.in)
	outSize := tensor.Prod(g.out)
	ndTaps(C, g, g.in, g.out, func(row, p, ci, off int, ok bool) {
		if ok {
			dst[ci*outSize+off] += col[row*P+p]
		}
	})
}

package kernels

import "math"

// Activation selects the elementwise function an Epilogue applies.
type Activation uint8

// The activations an Epilogue can fuse.
const (
	ActNone      Activation = iota // identity
	ActRelu                        // max(x, 0)
	ActClip                        // min(max(x, Min), Max); Relu6 is Min 0, Max 6
	ActLeakyRelu                   // x if x >= 0, else Alpha*x
)

// Epilogue is applied to C after the product, while each block of C is
// still in cache: C = Act(alpha·op(A)·op(B) + beta·C + Bias). A nil *Epilogue or the
// zero value does nothing.
type Epilogue struct {
	// Bias, if not nil, has one value per column of C (length n, Gemm's
	// broadcast bias) or, with BiasPerRow, one per row (length m, Conv's
	// per-output-channel bias when C is [Cout, outH·outW]).
	Bias       []float32
	BiasPerRow bool

	Act      Activation
	Min, Max float32 // bounds for ActClip
	Alpha    float32 // negative slope for ActLeakyRelu
}

func (e *Epilogue) noop() bool {
	return e == nil || (e.Bias == nil && e.Act == ActNone)
}

// clamp reports whether the micro-kernel can fuse e (kernelEpGeneric): a
// per-row bias or none, and an activation that clamps, whose bounds it
// returns.
func (e *Epilogue) clamp() (lo, hi float32, ok bool) {
	if e == nil || (e.Bias != nil && !e.BiasPerRow) {
		return 0, 0, false
	}
	inf := float32(math.Inf(1))
	switch e.Act {
	case ActNone:
		return -inf, inf, true
	case ActRelu:
		return 0, inf, true
	case ActClip:
		return e.Min, e.Max, true
	}
	return 0, 0, false
}

// apply runs the epilogue on the rows×cols block of c at (i0, j0).
func (e *Epilogue) apply(c []float32, ldc, i0, j0, rows, cols int) {
	for i := i0; i < i0+rows; i++ {
		e.applyRow(c[i*ldc+j0:i*ldc+j0+cols], i, j0)
	}
}

// applyRow runs the epilogue on row, the part of C's row i that starts at
// column j0.
func (e *Epilogue) applyRow(row []float32, i, j0 int) {
	if e.Bias != nil {
		if e.BiasPerRow {
			addConst(e.Bias[i], row)
		} else {
			addTo(row, e.Bias[j0:j0+len(row)])
		}
	}
	switch e.Act {
	case ActRelu:
		relu(row, row)
	case ActClip:
		clip(row, row, e.Min, e.Max)
	case ActLeakyRelu:
		LeakyRelu(row, row, e.Alpha)
	}
}

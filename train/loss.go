package train

import (
	"fmt"
	"math"

	"github.com/podaml/poda/tensor"
)

// logitsDims checks that logits is [N, C] (or [N, C, 1, ...]).
func logitsDims(logits *tensor.Tensor) (n, c int, err error) {
	s := logits.Shape
	if len(s) < 2 || tensorProd(s[2:]) != 1 {
		return 0, 0, fmt.Errorf("train: logits have shape %v, want [N, C]", s)
	}
	return s[0], s[1], nil
}

// CrossEntropy returns the mean softmax cross-entropy of logits [N, C]
// against labels and, if grad is not nil, writes its gradient with respect
// to the logits into grad (len N·C). Sums are in float64.
func CrossEntropy(logits *tensor.Tensor, labels []int, grad []float32) (float64, error) {
	return Distillation(logits, nil, labels, 1, 1, grad)
}

// Distillation returns the knowledge-distillation loss
//
//	α·CE(labels) + (1−α)·T²·KL(softmax(teacher/T) ‖ softmax(logits/T))
//
// averaged over the batch (the KL term as torch's KLDivLoss with
// reduction "batchmean"), and writes its gradient with respect to logits
// into grad if grad is not nil. With teacher nil it is α·CE.
func Distillation(logits, teacher *tensor.Tensor, labels []int, alpha, temperature float64, grad []float32) (float64, error) {
	n, c, err := logitsDims(logits)
	if err != nil {
		return 0, err
	}
	if len(labels) != n {
		return 0, fmt.Errorf("train: %d labels for %d logits rows", len(labels), n)
	}
	if grad != nil && len(grad) != n*c {
		return 0, fmt.Errorf("train: gradient buffer has %d values, want %d", len(grad), n*c)
	}
	if teacher != nil {
		if tn, tc, err := logitsDims(teacher); err != nil || tn != n || tc != c {
			return 0, fmt.Errorf("train: teacher logits %v for student logits %v", teacher.Shape, logits.Shape)
		}
		if temperature <= 0 {
			return 0, fmt.Errorf("train: distillation temperature %v", temperature)
		}
	}
	x := logits.F32
	var total float64
	inv := 1 / float64(n)
	for r := 0; r < n; r++ {
		row := x[r*c : (r+1)*c]
		y := labels[r]
		if y < 0 || y >= c {
			return 0, fmt.Errorf("train: label %d out of range [0, %d)", y, c)
		}
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, float64(v))
		}
		var s float64
		for _, v := range row {
			s += math.Exp(float64(v) - mx)
		}
		lse := mx + math.Log(s)
		total += alpha * (lse - float64(row[y])) * inv
		if grad != nil {
			g := grad[r*c : (r+1)*c]
			for j, v := range row {
				p := math.Exp(float64(v) - lse)
				if j == y {
					p--
				}
				g[j] = float32(alpha * p * inv)
			}
		}
		if teacher == nil || alpha == 1 {
			continue
		}
		t := teacher.F32[r*c : (r+1)*c]
		T := temperature
		smx, tmx := math.Inf(-1), math.Inf(-1)
		for j := range row {
			smx = math.Max(smx, float64(row[j])/T)
			tmx = math.Max(tmx, float64(t[j])/T)
		}
		var ss, ts float64
		for j := range row {
			ss += math.Exp(float64(row[j])/T - smx)
			ts += math.Exp(float64(t[j])/T - tmx)
		}
		slse, tlse := smx+math.Log(ss), tmx+math.Log(ts)
		var kl float64
		for j := range row {
			lps := float64(row[j])/T - slse
			lpt := float64(t[j])/T - tlse
			pt := math.Exp(lpt)
			kl += pt * (lpt - lps)
			if grad != nil {
				grad[r*c+j] += float32((1 - alpha) * T * (math.Exp(lps) - pt) * inv)
			}
		}
		total += (1 - alpha) * T * T * kl * inv
	}
	return total, nil
}

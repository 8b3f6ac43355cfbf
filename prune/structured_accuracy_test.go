package prune

import (
	"context"
	"testing"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// TestStructuredCriteriaAccuracy prunes the trained MNIST fixtures without
// fine-tuning and compares criteria on the first test images: on the
// convolutional nets the best weight-based criterion must not lose to
// random channel choice (averaged over three seeds). Measured with the
// committed fixtures: LeNet-5 at 30%, L2/Taylor 0.983 vs random 0.955;
// the ResNet (BN kept) at 5%, BN-scale 0.858, L2 0.830 vs random 0.592
// (its residual streams make it fragile: 10% already costs half the
// accuracy). On LeNet-300-100 random neurons do as well as the
// smallest-norm ones at 30% (0.940 vs 0.942) and better at 50–70%: that
// is logged, not asserted.
func TestStructuredCriteriaAccuracy(t *testing.T) {
	if testing.Short() {
		t.Skip("evaluates on MNIST")
	}
	mn, err := data.LoadMNIST("", "test", data.Normalize{})
	if err != nil {
		t.Skipf("MNIST: %v", err)
	}
	idx := make([]int, 2000)
	for i := range idx {
		idx[i] = i
	}
	ds, err := data.NewSubset(mn, idx)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Calibration for the Taylor criterion: 4 batches of 64 training images.
	mtr, err := data.LoadMNIST("", "train", data.Normalize{})
	if err != nil {
		t.Fatal(err)
	}
	var calX []*tensor.Tensor
	var calY [][]int
	for b := 0; b < 4; b++ {
		xb := tensor.New(append([]int{64}, mtr.Shape()...)...)
		yb := make([]int, 64)
		n := tensor.Prod(mtr.Shape())
		for i := range yb {
			if yb[i], err = mtr.Example(b*64+i, xb.F32[i*n:(i+1)*n]); err != nil {
				t.Fatal(err)
			}
		}
		calX, calY = append(calX, xb), append(calY, yb)
	}
	// The first 2000 test images as one batch, evaluated with the runtime.
	shape := append([]int{len(idx)}, ds.Shape()...)
	x := tensor.New(shape...)
	labels := make([]int, len(idx))
	per := tensor.Prod(ds.Shape())
	for i := range idx {
		if labels[i], err = ds.Example(i, x.F32[i*per:(i+1)*per]); err != nil {
			t.Fatal(err)
		}
	}
	acc := func(t *testing.T, m *graph.Model, n int) float64 {
		xs := &tensor.Tensor{DType: tensor.Float, Shape: append([]int{n}, shape[1:]...), F32: x.F32[:n*per]}
		y := runStructured(t, m, xs)
		k := y.Shape[1]
		right := 0
		for i, l := range labels[:n] {
			row := y.F32[i*k : (i+1)*k]
			best := 0
			for j, v := range row {
				if v > row[best] {
					best = j
				}
			}
			if best == l {
				right++
			}
		}
		return float64(right) / float64(n)
	}
	for _, c := range []struct {
		name   string
		ratio  float64
		images int
		assert bool
	}{{"lenet300", 0.3, 2000, false}, {"lenet5", 0.3, 1000, true}, {"resnet_bn", 0.05, 400, true}} {
		name := c.name
		t.Run(name, func(t *testing.T) {
			m0, _ := structuredFixture(t, name)
			base := acc(t, m0, c.images)
			prune := func(crit GroupCriterion) float64 {
				m := m0.Clone()
				if _, err := Structured(ctx, m, StructuredOptions{Ratio: c.ratio, Criterion: crit}); err != nil {
					t.Fatal(err)
				}
				return acc(t, m, c.images)
			}
			best := 0.0
			for _, crit := range []GroupCriterion{GroupL1{}, GroupL2{}, GroupBNScale{Fallback: GroupL1{}}, &GroupTaylor{Inputs: calX, Labels: calY}} {
				a := prune(crit)
				t.Logf("%T: %.4f", crit, a)
				best = max(best, a)
			}
			var rnd float64
			for seed := uint64(1); seed <= 3; seed++ {
				rnd += prune(GroupRandom{Seed: seed}) / 3
			}
			t.Logf("ratio %.2f: unpruned %.4f, best criterion %.4f, random (mean of 3) %.4f", c.ratio, base, best, rnd)
			if c.assert && best < rnd {
				t.Errorf("best criterion %.4f below random %.4f", best, rnd)
			}
		})
	}
}

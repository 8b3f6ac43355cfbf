package train

import "math"

// Schedule gives the learning rate of optimizer step (0-based) out of
// total steps, for a base learning rate.
type Schedule interface {
	LR(base float64, step, total int) float64
}

// Constant keeps the base learning rate.
type Constant struct{}

// LR implements Schedule.
func (Constant) LR(base float64, _, _ int) float64 { return base }

// StepDecay multiplies the learning rate by Gamma every Every steps
// (torch.optim.lr_scheduler.StepLR counted in optimizer steps).
type StepDecay struct {
	Every int
	Gamma float64
}

// LR implements Schedule.
func (s StepDecay) LR(base float64, step, _ int) float64 {
	if s.Every <= 0 {
		return base
	}
	return base * math.Pow(s.Gamma, float64(step/s.Every))
}

// Cosine anneals from the base rate to MinLR over all steps
// (CosineAnnealingLR with T_max = total steps):
// MinLR + (base − MinLR)·(1 + cos(π·step/total))/2.
type Cosine struct{ MinLR float64 }

// LR implements Schedule.
func (c Cosine) LR(base float64, step, total int) float64 {
	if total <= 0 {
		return base
	}
	return c.MinLR + (base-c.MinLR)*(1+math.Cos(math.Pi*float64(step)/float64(total)))/2
}

// OneCycle is torch's OneCycleLR with cosine annealing and the base rate
// as max_lr: from base/DivFactor up to base over the first PctStart of the
// steps, then down to base/(DivFactor·FinalDivFactor). Zero fields mean
// torch's defaults (0.3, 25, 1e4).
type OneCycle struct {
	PctStart, DivFactor, FinalDivFactor float64
}

// LR implements Schedule.
func (o OneCycle) LR(base float64, step, total int) float64 {
	pct := orDefault(o.PctStart, 0.3)
	div := orDefault(o.DivFactor, 25)
	fdiv := orDefault(o.FinalDivFactor, 1e4)
	initial := base / div
	final := initial / fdiv
	end1 := pct*float64(total) - 1
	end2 := float64(total) - 1
	cosAnneal := func(a, b, p float64) float64 { return b + (a-b)/2*(math.Cos(math.Pi*p)+1) }
	s := float64(step)
	if s <= end1 {
		if end1 <= 0 {
			return base
		}
		return cosAnneal(initial, base, s/end1)
	}
	if end2 <= end1 {
		return final
	}
	return cosAnneal(base, final, math.Min(1, (s-end1)/(end2-end1)))
}

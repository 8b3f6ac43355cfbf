package train

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Reference values from torch 1.13 (see the script in the comment of
// TestOptimizersMatchTorch): parameter [0.5, -1.25, 2, 0, -0.3] after three
// steps with gradient g_s = [0.1, -0.2, 0.3, 0.05, -0.4]·(s+1) + 0.5·p.
func TestOptimizersMatchTorch(t *testing.T) {
	// import torch
	// p = torch.nn.Parameter(torch.tensor([0.5, -1.25, 2.0, 0.0, -0.3]))
	// for s in range(3): p.grad = torch.tensor([...])*(s+1) + p.detach()*0.5; opt.step()
	want := map[string][]float64{
		"sgd":               {0.37066251039505005, -0.9556688070297241, 1.5406750440597534, -0.02901250123977661, -0.025112492963671684},
		"sgd-mom-wd":        {0.27095308899879456, -0.723466694355011, 1.1759803295135498, -0.04608400538563728, 0.15079937875270844},
		"sgd-nesterov-damp": {0.17841024696826935, -0.5145184397697449, 0.8506266474723816, -0.0684928223490715, 0.3587050139904022},
		"sgd-dampening":     {0.3248696029186249, -0.8466051816940308, 1.3683407306671143, -0.034431129693984985, 0.03920987248420715},
		"adam":              {0.47001126408576965, -1.2199890613555908, 1.9699838161468506, -0.029338039457798004, -0.27045971155166626},
		"adam-wd":           {0.46979770064353943, -1.2198028564453125, 1.9698048830032349, -0.02983245998620987, -0.2700079083442688},
		"adamw":             {0.46854227781295776, -1.2162724733352661, 1.9640194177627563, -0.02930830791592598, -0.2695901095867157},
	}
	opts := map[string]func() (Optimizer, float64){
		"sgd":               func() (Optimizer, float64) { return &SGD{}, 0.1 },
		"sgd-mom-wd":        func() (Optimizer, float64) { return &SGD{Momentum: 0.9, WeightDecay: 0.01}, 0.1 },
		"sgd-nesterov-damp": func() (Optimizer, float64) { return &SGD{Momentum: 0.9, Nesterov: true, WeightDecay: 0.001}, 0.1 },
		"sgd-dampening":     func() (Optimizer, float64) { return &SGD{Momentum: 0.8, Dampening: 0.3}, 0.1 },
		"adam":              func() (Optimizer, float64) { return &Adam{}, 0.01 },
		"adam-wd":           func() (Optimizer, float64) { return &Adam{WeightDecay: 0.1, Beta1: 0.8, Beta2: 0.99, Eps: 1e-6}, 0.01 },
		"adamw":             func() (Optimizer, float64) { return NewAdamW(0.1), 0.01 },
	}
	for name, mk := range opts {
		opt, lr := mk()
		p := &Param{Name: "p", Data: []float32{0.5, -1.25, 2, 0, -0.3}, Grad: make([]float32, 5)}
		base := []float32{0.1, -0.2, 0.3, 0.05, -0.4}
		for s := 0; s < 3; s++ {
			for i := range p.Grad {
				p.Grad[i] = base[i]*float32(s+1) + p.Data[i]*0.5
			}
			opt.Step([]*Param{p}, lr)
		}
		for i, w := range want[name] {
			if d := math.Abs(float64(p.Data[i]) - w); d > 2e-7*math.Max(1, math.Abs(w)) {
				t.Errorf("%s: p[%d] = %.9g, torch %.9g", name, i, p.Data[i], w)
			}
		}
	}
}

func TestSchedulesMatchTorch(t *testing.T) {
	for name, c := range map[string]struct {
		s    Schedule
		want []float64
	}{
		"onecycle": {OneCycle{}, []float64{0.0040000000000000036, 0.052000000000000005, 0.1, 0.09504846320134738, 0.0811745653949763, 0.06112620219362893, 0.03887419780637107, 0.0188258346050237, 0.004951936798652629, 4e-07}},
		"cosine":   {Cosine{MinLR: 0.001}, []float64{0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599, 0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109, 0.0034227024433899004}},
		"step":     {StepDecay{Every: 3, Gamma: 0.5}, []float64{0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125}},
		"constant": {Constant{}, []float64{0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}},
	} {
		for i, w := range c.want {
			if got := c.s.LR(0.1, i, 10); math.Abs(got-w) > 1e-12 {
				t.Errorf("%s: step %d: lr %.12g, torch %.12g", name, i, got, w)
			}
		}
	}
}

func TestClipGradNorm(t *testing.T) {
	a := &Param{Grad: []float32{3, 0}}
	b := &Param{Grad: []float32{0, 4}}
	if n := ClipGradNorm([]*Param{a, b}, 1); n != 5 {
		t.Fatalf("norm %v, want 5", n)
	}
	got := math.Hypot(float64(a.Grad[0]), float64(b.Grad[1]))
	if math.Abs(got-1) > 1e-6 {
		t.Errorf("clipped norm %v, want 1", got)
	}
	if n := ClipGradNorm([]*Param{a, b}, 10); math.Abs(n-1) > 1e-6 || math.Abs(float64(a.Grad[0])-0.6) > 1e-6 {
		t.Errorf("clipping below the limit changed the gradient: %v %v", n, a.Grad)
	}
}

func TestMaskedWeightsStayZero(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for name, opt := range map[string]Optimizer{
		"sgd-momentum-wd": &SGD{Momentum: 0.9, WeightDecay: 1e-2, Nesterov: true},
		"adam":            &Adam{WeightDecay: 1e-2},
		"adamw":           NewAdamW(0.1),
	} {
		p := &Param{Data: make([]float32, 64), Grad: make([]float32, 64)}
		for i := range p.Data {
			if i%3 != 0 {
				p.Data[i] = float32(r.NormFloat64())
			}
		}
		p.Mask = MaskFromZeros(p.Data)
		for s := 0; s < 20; s++ {
			for i := range p.Grad {
				p.Grad[i] = float32(r.NormFloat64()) // dense gradient, as backprop gives
			}
			opt.Step([]*Param{p}, 0.05)
			for i, v := range p.Data {
				if i%3 == 0 && v != 0 {
					t.Fatalf("%s: step %d: masked weight %d = %v", name, s, i, v)
				}
			}
		}
		_, bufs := opt.state([]*Param{p})
		for _, b := range bufs[0] {
			for i := 0; i < len(b); i += 3 {
				if b[i] != 0 {
					t.Fatalf("%s: optimizer state of masked weight %d = %v", name, i, b[i])
				}
			}
		}
		moved := 0
		for i, v := range p.Data {
			if i%3 != 0 && v != 0 {
				moved++
			}
		}
		if moved == 0 {
			t.Errorf("%s: kept weights are all zero", name)
		}
	}
}

func TestNMMask(t *testing.T) {
	w := []float32{
		1, -5, 2, 0.5 /**/, 3, 3, -1, 0,
		0, 0, 0, 0 /**/, -9, 1, 2, 8,
	}
	m, err := NMMask(w, []int{2, 8}, 1, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{
		false, true, true, false, true, true, false, false,
		true, true, false, false, true, false, false, true,
	}
	for i := range want {
		if m[i] != want[i] {
			t.Fatalf("mask %v, want %v", m, want)
		}
	}
	// Along axis 0 of a [4, 2] weight: groups are columns.
	m, err = NMMask([]float32{1, 4, 2, 3, 3, 2, 4, 1}, []int{4, 2}, 0, 1, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !m[6] || !m[1] || m[0] || m[7] {
		t.Errorf("axis-0 mask %v", m)
	}
	if _, err := NMMask(w, []int{2, 8}, 1, 2, 3); err == nil {
		t.Error("8 not divisible by 3 accepted")
	}
}

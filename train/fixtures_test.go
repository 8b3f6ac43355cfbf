package train

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/tensor"
)

var fixtureNames = []string{"lenet300", "lenet5", "resnet_bn", "resnet_bnfold", "concat_block", "mbv2_block", "transformer", "resnet18", "mobilenet_v2"}

func big(name string) bool { return name == "resnet18" || name == "mobilenet_v2" }

// TestFixturesForward runs every fixture present through the training
// program in inference mode and compares with torch's reference output.
func TestFixturesForward(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			if big(name) && testing.Short() {
				t.Skip("large model; skipped with -short")
			}
			m, _ := fixture(t, name)
			x, want := refIO(t, name)
			p, err := compileInference(m)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.Forward(x, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.F32) != len(want.F32) {
				t.Fatalf("output %v, want %v", out.Shape, want.Shape)
			}
			for i, w := range want.F32 {
				if d := math.Abs(float64(out.F32[i] - w)); d > 1e-4+1e-4*math.Abs(float64(w)) {
					t.Fatalf("output[%d] = %v, torch %v", i, out.F32[i], w)
				}
			}
		})
	}
}

// TestFixturesGradients checks training-mode gradients of whole fixture
// models against finite differences on a few entries of a few parameters
// and of the input. The large random-weight models (resnet18,
// mobilenet_v2) have so many ReLU/ReLU6 kinks that finite differences
// are unreliable there; TestFixturesTrain covers them.
func TestFixturesGradients(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			if big(name) {
				t.Skip("deep random-weight model: finite differences cross too many kinks")
			}
			m, _ := fixture(t, name)
			x, _ := refIO(t, name)
			p, err := Compile(m, Options{InputGrad: true})
			if err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(21, 22))
			// MNIST backgrounds are constant: break the exact ties they
			// make in MaxPool, where the function has a kink.
			for i := range x.F32 {
				x.F32[i] += 0.05 * float32(r.NormFloat64())
			}
			out, err := p.Forward(x, true)
			if err != nil {
				t.Fatal(err)
			}
			R := make([]float32, len(out.F32))
			for i := range R {
				R[i] = float32(r.NormFloat64())
			}
			L := func() float64 {
				out, err := p.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				var s float64
				for i, v := range out.F32 {
					s += float64(v) * float64(R[i])
				}
				return s
			}
			L()
			if err := p.Backward(R); err != nil {
				t.Fatal(err)
			}
			type target struct {
				name       string
				data, grad []float32
			}
			targets := []target{{"input", x.F32, append([]float32(nil), p.InputGrad()...)}}
			params := p.Params()
			for _, k := range r.Perm(len(params))[:min(4, len(params))] {
				q := params[k]
				targets = append(targets, target{q.Name, q.Data, append([]float32(nil), q.Grad...)})
			}
			// Deep ReLU networks are piecewise linear with many kinks: a small
			// step keeps the difference on one piece.
			const eps = 3e-4
			bad, checked, kinks := 0, 0, 0
			for _, tg := range targets {
				// the entries with the largest gradients, plus random ones
				idx := r.Perm(len(tg.data))[:min(6, len(tg.data))]
				best := 0
				for i, g := range tg.grad {
					if math.Abs(float64(g)) > math.Abs(float64(tg.grad[best])) {
						best = i
					}
				}
				idx = append(idx, best)
				for _, i := range idx {
					old := tg.data[i]
					l0 := L()
					tg.data[i] = old + eps
					lp := L()
					tg.data[i] = old - eps
					lm := L()
					tg.data[i] = old
					fd := (lp - lm) / (2 * eps)
					g := float64(tg.grad[i])
					tol := 3e-2*math.Max(math.Abs(g), math.Abs(fd)) + 2e-2
					// A kink (ReLU, MaxPool switching its maximum) within ±eps
					// shows as one-sided slopes that disagree: skip the entry.
					if math.Abs((lp-l0)/eps-(l0-lm)/eps) > tol {
						kinks++
						continue
					}
					checked++
					if math.Abs(g-fd) > tol {
						bad++
						t.Logf("%s[%d]: grad %.6g, finite difference %.6g", tg.name, i, g, fd)
					}
				}
			}
			t.Logf("%d entries checked, %d skipped at kinks", checked, kinks)
			if bad > 0 || checked < 2*kinks {
				t.Errorf("%d of %d gradient entries disagree with finite differences (%d kinks)", bad, checked, kinks)
			}
		})
	}
}

func refIO(t *testing.T, name string) (x, y *tensor.Tensor) {
	t.Helper()
	read := func(suffix string) *tensor.Tensor {
		path := filepath.Join(modelsDir, name+suffix)
		if _, err := os.Stat(path); err != nil {
			t.Skipf("%s not present", path)
		}
		v, err := npy.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := npy.AsFloat32(v)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	return read(".input.npy"), read(".output.npy")
}

// TestFixturesTrain fits every fixture to one fixed batch with random
// labels for a few Adam steps: the loss must fall.
func TestFixturesTrain(t *testing.T) {
	for _, name := range fixtureNames {
		t.Run(name, func(t *testing.T) {
			if big(name) && testing.Short() {
				t.Skip("large model; skipped with -short")
			}
			m, _ := fixture(t, name)
			x, y := refIO(t, name)
			r := rand.New(rand.NewPCG(5, 6))
			n, c := y.Shape[0], y.Shape[1]
			labels := make([]int, n)
			for i := range labels {
				labels[i] = r.IntN(c)
			}
			p, err := Compile(m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			opt := &Adam{}
			grad := make([]float32, n*c)
			var first, last float64
			for step := 0; step < 8; step++ {
				out, err := p.Forward(x, true)
				if err != nil {
					t.Fatal(err)
				}
				loss, err := CrossEntropy(out, labels, grad)
				if err != nil {
					t.Fatal(err)
				}
				if step == 0 {
					first = loss
				}
				last = loss
				if err := p.Backward(grad); err != nil {
					t.Fatal(err)
				}
				opt.Step(p.Params(), 1e-3)
			}
			t.Logf("%s: loss %.4f → %.4f in 8 steps", name, first, last)
			if !(last < first) {
				t.Errorf("loss did not fall: %.4f → %.4f", first, last)
			}
		})
	}
}

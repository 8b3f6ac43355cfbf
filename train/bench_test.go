package train

import (
	"context"
	"testing"
	"time"

	"github.com/podaml/poda/data"
)

// BenchmarkEpochLeNet5 trains LeNet-5 for one epoch of MNIST (60,000
// images, batch 128, SGD with momentum) per iteration and reports
// samples/s. With -benchtime=Nx it runs N epochs; PODA_BENCH_STEPS is not
// used: use BenchmarkStepsLeNet5 for a quicker, fixed number of steps.
func BenchmarkEpochLeNet5(b *testing.B) {
	benchLeNet5(b, 0)
}

// BenchmarkStepsLeNet5 is 50 steps of batch 128 per iteration.
func BenchmarkStepsLeNet5(b *testing.B) {
	benchLeNet5(b, 50)
}

func benchLeNet5(b *testing.B, steps int) {
	m0, _ := fixture(b, "lenet5")
	ds := mnist(b, "train")
	var samples int
	var wall time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := m0.Clone()
		res, err := Fit(context.Background(), m, ds, Config{Epochs: 1, MaxSteps: steps, BatchSize: 128, LR: 0.01,
			Optimizer: &SGD{Momentum: 0.9}, Seed: uint64(i)})
		if err != nil {
			b.Fatal(err)
		}
		samples += res.Samples
		wall += res.Wall
	}
	b.ReportMetric(float64(samples)/wall.Seconds(), "samples/s")
}

var _ data.Dataset = (*data.MNIST)(nil)

package train_test

import (
	"context"
	"fmt"
	"log"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/train"
)

// Fine-tune a pruned model without letting its pruned weights regrow, then
// save it.
func Example() {
	ctx := context.Background()
	m, err := graph.Load("pruned.onnx", onnx.Limits{})
	if err != nil {
		log.Fatal(err)
	}
	dir, err := data.MNISTDir()
	if err != nil {
		log.Fatal(err)
	}
	trainSet, err := data.LoadMNIST(dir, "train", data.MNISTNormalize)
	if err != nil {
		log.Fatal(err)
	}
	testSet, err := data.LoadMNIST(dir, "test", data.MNISTNormalize)
	if err != nil {
		log.Fatal(err)
	}
	res, err := train.Fit(ctx, m, trainSet, train.Config{
		Epochs:    2,
		BatchSize: 128,
		LR:        0.01,
		Optimizer: &train.SGD{Momentum: 0.9, WeightDecay: 1e-4},
		Schedule:  train.Cosine{},
		Seed:      1,
		Masks:     train.SparsityMasks(m), // keep exact zeros at zero
		OnStep: func(s train.StepInfo) {
			if s.Step%100 == 0 {
				fmt.Printf("step %d epoch %d loss %.4f lr %.4g\n", s.Step, s.Epoch, s.Loss, s.LR)
			}
		},
		CheckpointDir: "ckpt", CheckpointEvery: 200, Resume: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	mt, err := train.Evaluate(ctx, m, testSet, 500)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d steps, test accuracy %.2f%%\n", res.Steps, 100*mt.Accuracy)
	if err := m.Save("finetuned.onnx", onnx.WriteOptions{}); err != nil {
		log.Fatal(err)
	}
}

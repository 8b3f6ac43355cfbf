// Package train owns training in Poda: reverse-mode automatic
// differentiation over the graph IR, the optimizers (SGD, Adam, AdamW),
// learning-rate schedules, gradient clipping, sparsity masks that keep
// pruned weights at exactly zero, the losses (softmax cross-entropy and
// knowledge distillation), and the training loop with atomic checkpoints
// and bit-for-bit resume.
//
// Data flow:
//
//	*graph.Model ──Compile──▶ *Program (ops with training semantics,
//	                          buffers planned once per batch shape)
//	Dataset ──batches──▶ Program.Forward ─▶ loss ─▶ Program.Backward
//	                                            ─▶ Optimizer.Step ─▶ masks
//
// A Program works on the model's initializers in place: after Fit the
// *graph.Model holds the trained weights (and updated BatchNormalization
// running statistics) and can be saved with graph.Model.Save.
//
// Every float initializer is a trainable parameter except
// BatchNormalization running mean and variance (updated as running
// statistics), the bounds of Clip, and whatever the caller freezes.
// Integer tensors and shape subgraphs (Shape, Gather, Unsqueeze, Concat,
// Constant, ...) are evaluated once per batch shape, without gradients.
package train

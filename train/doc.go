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
// Ops with training semantics and gradients (SupportedOps lists them):
// Conv (1-D and 2-D; pads, auto_pad, strides, dilations, groups including
// depthwise), Gemm, MatMul (batched, broadcast), BatchNormalization (batch
// statistics and running-statistics update in training, or frozen),
// LayerNormalization, Relu, LeakyRelu, Gelu, Erf, Sigmoid, Tanh, Clip, Exp,
// Sqrt, Neg, Pow, Softmax, LogSoftmax, MaxPool, AveragePool,
// GlobalAveragePool, Add, Sub, Mul, Div (numpy broadcasting), Reshape,
// Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Gather
// (constant indices), Pad (constant, edge, reflect), ReduceMean, ReduceSum,
// Dropout (seeded), Identity, Cast; and, evaluated once per batch shape,
// Shape, Size, Constant, ConstantOfShape and integer arithmetic on shapes.
// The loss is the softmax cross-entropy of the first graph output (logits
// [N, C]), optionally mixed with a distillation term.
//
// Every float initializer is a trainable parameter except
// BatchNormalization running mean and variance (updated as running
// statistics), the bounds of Clip, and whatever the caller freezes.
// Integer tensors and shape subgraphs (Shape, Gather, Unsqueeze, Concat,
// Constant, ...) are evaluated once per batch shape, without gradients.
package train

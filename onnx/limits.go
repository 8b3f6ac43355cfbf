package onnx

// Limits caps what a model may ask for. Checks against them happen before
// any allocation sized by the file's numbers. The zero value of a field
// means "use the default".
type Limits struct {
	MaxProtoBytes  int64 // size of the protobuf file itself (ONNX's own cap is 2 GiB)
	MaxTensorBytes int64 // one tensor's data
	MaxTotalBytes  int64 // all tensor data, inline and external
	MaxRank        int   // dimensions of one tensor or shape
	MaxTensors     int   // TensorProtos: initializers, constants, attribute tensors (a sparse tensor counts two)
	MaxNodes       int   // nodes, summed over subgraphs
	MaxDepth       int   // subgraph nesting (If/Loop/Scan bodies)
}

// DefaultLimits are generous for real models and small enough to stop an
// allocation bomb on a 24 GiB machine.
func DefaultLimits() Limits {
	return Limits{
		MaxProtoBytes:  2 << 30,
		MaxTensorBytes: 4 << 30,
		MaxTotalBytes:  16 << 30,
		MaxRank:        32,
		MaxTensors:     1 << 20,
		MaxNodes:       1 << 22,
		MaxDepth:       16,
	}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxProtoBytes <= 0 {
		l.MaxProtoBytes = d.MaxProtoBytes
	}
	if l.MaxTensorBytes <= 0 {
		l.MaxTensorBytes = d.MaxTensorBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxRank <= 0 {
		l.MaxRank = d.MaxRank
	}
	if l.MaxTensors <= 0 {
		l.MaxTensors = d.MaxTensors
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = d.MaxNodes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = d.MaxDepth
	}
	return l
}

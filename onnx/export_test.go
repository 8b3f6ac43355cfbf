package onnx

// Builders shared with the external test package (fuzz seeds).
var (
	GemmModel     = gemmModel
	ConstModel    = constModel
	SparseModel   = sparseModel
	WithFunction  = withFunction
	NestBytes     = nestBytes
	Externalize   = externalize
	ForEachTensor = forEachTensor
)

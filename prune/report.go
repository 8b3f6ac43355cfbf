package prune

// TensorReport tells what pruning did to one weight tensor.
type TensorReport struct {
	Tensor        string  `json:"tensor"`
	Node          string  `json:"node"`
	Op            string  `json:"op"`
	Shape         []int   `json:"shape"`
	Numel         int     `json:"numel"`
	ZerosBefore   int     `json:"zeros_before"`
	ZerosAfter    int     `json:"zeros_after"`
	Target        float64 `json:"target"`            // the sparsity asked for (layer-wise), or the global target
	SparsityAfter float64 `json:"sparsity_after"`    // fraction of exact zeros after pruning
	Skipped       string  `json:"skipped,omitempty"` // why the tensor was left alone
}

// Report is the outcome of an unstructured or N:M pruning pass.
type Report struct {
	Method   string         `json:"method"`
	Tensors  []TensorReport `json:"tensors"`
	Numel    int            `json:"numel"`    // elements of the pruned tensors
	Zeros    int            `json:"zeros"`    // their exact zeros after pruning
	Sparsity float64        `json:"sparsity"` // Zeros / Numel
}

func (r *Report) add(tr TensorReport) {
	r.Tensors = append(r.Tensors, tr)
	if tr.Skipped != "" {
		return
	}
	r.Numel += tr.Numel
	r.Zeros += tr.ZerosAfter
	if r.Numel > 0 {
		r.Sparsity = float64(r.Zeros) / float64(r.Numel)
	}
}

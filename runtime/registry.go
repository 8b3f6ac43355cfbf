package runtime

import (
	"fmt"
	"sort"
	"sync"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// An op is one ONNX operator with its attributes parsed. Ops are built once
// per node when a Session is created and shared by every plan and Run.
type op interface {
	// prepare checks the inputs' types and concrete shapes, sets the
	// outputs' and returns the function that computes them. It may record
	// scratch needs in c and, for ops whose result depends only on shapes
	// (Shape, Size), set c.out[i].konst directly.
	prepare(c *pctx) (runFunc, error)
}

// runFunc computes a node's outputs. in[i] is nil for an omitted optional
// input; out[i] is nil for an unused optional output. The output tensors
// already have their shapes and storage.
type runFunc func(e *env, in, out []*tensor.Tensor) error

// builder parses a node's attributes. opset is the model's version of the
// node's domain.
type builder func(n *graph.Node, opset int64) (op, error)

type opKey struct{ domain, opType string }

type opDef struct {
	since, until int64 // opset range, inclusive
	build        builder
}

var (
	registryMu sync.RWMutex
	registry   = map[opKey][]opDef{}
)

// register adds an op implementation for opsets since..until (inclusive) of
// domain ("" is the default ONNX domain). It is called from the init
// functions of the ops_*.go files.
func register(domain, opType string, since, until int64, b builder) {
	registryMu.Lock()
	defer registryMu.Unlock()
	k := opKey{normDomain(domain), opType}
	for _, d := range registry[k] {
		if since <= d.until && d.since <= until {
			panic(fmt.Sprintf("runtime: %s registered twice for overlapping opsets", opType))
		}
	}
	registry[k] = append(registry[k], opDef{since, until, b})
}

func normDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// lookup finds the implementation of opType in domain for the given opset.
func lookup(domain, opType string, opset int64) (builder, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	for _, d := range registry[opKey{normDomain(domain), opType}] {
		if d.since <= opset && opset <= d.until {
			return d.build, true
		}
	}
	return nil, false
}

// SupportedOps lists the supported operators of the default ONNX domain
// (other domains as "domain.Op"), each once, sorted. It is derived from the
// registry that the ops' files fill.
func SupportedOps() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	var out []string
	for k := range registry {
		name := k.opType
		if k.domain != "" {
			name = k.domain + "." + name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Supports reports whether an op of the given domain, type and opset
// version is implemented.
func Supports(domain, opType string, opset int64) bool {
	_, ok := lookup(domain, opType, opset)
	return ok
}

// UnsupportedError reports an operator (or an operator applied to element
// types) that the runtime does not implement.
type UnsupportedError struct {
	Node   string // node name, possibly empty
	OpType string
	Opset  int64
	Reason string // what is missing, e.g. "not implemented" or "int8 input"
}

func (e *UnsupportedError) Error() string {
	name := e.Node
	if name == "" {
		name = "(unnamed)"
	}
	return fmt.Sprintf("runtime: node %q: op %s (opset %d): %s", name, e.OpType, e.Opset, e.Reason)
}

// errDType is returned by prepare for element types an op does not handle.
func errDType(c *pctx, dt tensor.DType) error {
	return &UnsupportedError{Node: c.node.Name, OpType: c.node.OpType, Opset: c.opset, Reason: dt.String() + " elements"}
}

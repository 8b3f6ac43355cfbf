package graph

import (
	"fmt"

	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

// Node is one operator application. Inputs and Outputs are value names; an
// empty input name is an omitted optional input.
type Node struct {
	Name    string
	OpType  string
	Domain  string
	Inputs  []string
	Outputs []string
	// Attrs are kept as protobufs: Poda reads the ones it understands
	// through the typed accessors and carries the others untouched.
	Attrs []*pb.AttributeProto
	proto *pb.NodeProto // doc string, overload, metadata
}

func (n *Node) String() string {
	if n.Name == "" {
		return fmt.Sprintf("unnamed %s node", n.OpType)
	}
	return fmt.Sprintf("node %q (%s)", n.Name, n.OpType)
}

// Input returns the i-th input name, or "" if the node has fewer inputs.
func (n *Node) Input(i int) string {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return ""
}

// Attr returns the attribute called name, or nil.
func (n *Node) Attr(name string) *pb.AttributeProto {
	for _, a := range n.Attrs {
		if a.GetName() == name {
			return a
		}
	}
	return nil
}

// Int returns an integer attribute, or def when absent.
func (n *Node) Int(name string, def int64) int64 {
	if a := n.Attr(name); a != nil {
		return a.GetI()
	}
	return def
}

// Ints returns an integer-list attribute, or def when absent.
func (n *Node) Ints(name string, def []int64) []int64 {
	if a := n.Attr(name); a != nil {
		return a.Ints
	}
	return def
}

// Float returns a float attribute, or def when absent.
func (n *Node) Float(name string, def float32) float32 {
	if a := n.Attr(name); a != nil {
		return a.GetF()
	}
	return def
}

// Floats returns a float-list attribute, or def when absent.
func (n *Node) Floats(name string, def []float32) []float32 {
	if a := n.Attr(name); a != nil {
		return a.Floats
	}
	return def
}

// Str returns a string attribute, or def when absent.
func (n *Node) Str(name string, def string) string {
	if a := n.Attr(name); a != nil {
		return string(a.GetS())
	}
	return def
}

// Strs returns a string-list attribute.
func (n *Node) Strs(name string) []string {
	a := n.Attr(name)
	if a == nil {
		return nil
	}
	out := make([]string, len(a.Strings))
	for i, s := range a.Strings {
		out[i] = string(s)
	}
	return out
}

// Tensor returns a tensor attribute (as in Constant's "value"), or nil.
func (n *Node) Tensor(name string) (*tensor.Tensor, error) {
	a := n.Attr(name)
	if a == nil || a.T == nil {
		return nil, nil
	}
	t, err := onnx.ToTensor(a.T)
	if err != nil {
		return nil, fmt.Errorf("%s attribute %q: %w", n, name, err)
	}
	return t, nil
}

func (n *Node) setAttr(a *pb.AttributeProto) {
	for i, old := range n.Attrs {
		if old.GetName() == a.GetName() {
			a.DocString = old.DocString
			n.Attrs[i] = a
			return
		}
	}
	n.Attrs = append(n.Attrs, a)
}

// SetInt sets an integer attribute.
func (n *Node) SetInt(name string, v int64) {
	n.setAttr(&pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)})
}

// SetInts sets an integer-list attribute.
func (n *Node) SetInts(name string, v []int64) {
	n.setAttr(&pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: append([]int64(nil), v...)})
}

// SetFloat sets a float attribute.
func (n *Node) SetFloat(name string, v float32) {
	n.setAttr(&pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)})
}

// SetTensor sets a tensor attribute.
func (n *Node) SetTensor(name string, t *tensor.Tensor) {
	n.setAttr(&pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_TENSOR.Enum(), T: onnx.FromTensor("", t)})
}

// HasSubgraph reports whether the node carries a graph attribute (If,
// Loop, Scan).
func (n *Node) HasSubgraph() bool {
	for _, a := range n.Attrs {
		if a.G != nil || len(a.Graphs) > 0 {
			return true
		}
	}
	return false
}

// Clone returns a deep copy of the node.
func (n *Node) Clone() *Node {
	c := &Node{Name: n.Name, OpType: n.OpType, Domain: n.Domain,
		Inputs: append([]string(nil), n.Inputs...), Outputs: append([]string(nil), n.Outputs...)}
	for _, a := range n.Attrs {
		c.Attrs = append(c.Attrs, proto.Clone(a).(*pb.AttributeProto))
	}
	if n.proto != nil {
		c.proto = proto.Clone(n.proto).(*pb.NodeProto)
	}
	return c
}

func nodeFromProto(p *pb.NodeProto) *Node {
	n := &Node{Name: p.GetName(), OpType: p.GetOpType(), Domain: p.GetDomain(),
		Inputs: append([]string(nil), p.Input...), Outputs: append([]string(nil), p.Output...),
		Attrs: p.Attribute}
	rest := proto.Clone(p).(*pb.NodeProto)
	rest.Input, rest.Output, rest.Attribute = nil, nil, nil
	n.proto = rest
	return n
}

func (n *Node) toProto() *pb.NodeProto {
	var out *pb.NodeProto
	if n.proto != nil {
		out = proto.Clone(n.proto).(*pb.NodeProto)
	} else {
		out = &pb.NodeProto{}
	}
	out.Input = append([]string(nil), n.Inputs...)
	out.Output = append([]string(nil), n.Outputs...)
	out.OpType = proto.String(n.OpType)
	out.Name = optString(out.Name, n.Name)
	out.Domain = optString(out.Domain, n.Domain)
	out.Attribute = nil
	for _, a := range n.Attrs {
		out.Attribute = append(out.Attribute, proto.Clone(a).(*pb.AttributeProto))
	}
	return out
}

// optString keeps a field absent when it was absent and stays empty, so
// round trips do not add empty fields.
func optString(old *string, v string) *string {
	if old == nil && v == "" {
		return nil
	}
	return proto.String(v)
}

package graph

import (
	"fmt"
	"os"

	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// Opset is an imported operator set.
type Opset struct {
	Domain  string
	Version int64
}

// Model is an ONNX model: its main graph, opsets and everything else the
// file carried.
type Model struct {
	IRVersion int64
	Opsets    []Opset
	Graph     *Graph
	// Source is the file the model was loaded from (nil if built in
	// memory); Save refuses to overwrite any of its files.
	Source *onnx.File
	proto  *pb.ModelProto // producer, doc string, metadata, functions, training info
}

// Load reads, validates and converts the model at path.
func Load(path string, lim onnx.Limits) (*Model, error) {
	f, err := onnx.ReadFile(path, lim)
	if err != nil {
		return nil, err
	}
	m, err := FromProto(f.Model)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m.Source = f
	return m, nil
}

// FromProto builds the IR from a validated model whose tensors are inline.
// It does not keep references to p's tensor data.
func FromProto(p *pb.ModelProto) (*Model, error) {
	m := &Model{IRVersion: p.GetIrVersion()}
	for _, op := range p.OpsetImport {
		m.Opsets = append(m.Opsets, Opset{Domain: op.GetDomain(), Version: op.GetVersion()})
	}
	g, err := graphFromProto(p.Graph)
	if err != nil {
		return nil, err
	}
	m.Graph = g
	rest := proto.Clone(p).(*pb.ModelProto)
	rest.Graph = nil
	rest.OpsetImport = nil
	m.proto = rest
	return m, nil
}

// Proto converts the IR back to a protobuf model.
func (m *Model) Proto() (*pb.ModelProto, error) {
	var out *pb.ModelProto
	if m.proto != nil {
		out = proto.Clone(m.proto).(*pb.ModelProto)
	} else {
		out = &pb.ModelProto{}
	}
	out.IrVersion = proto.Int64(m.IRVersion)
	out.OpsetImport = nil
	for _, op := range m.Opsets {
		out.OpsetImport = append(out.OpsetImport, &pb.OperatorSetIdProto{Domain: proto.String(op.Domain), Version: proto.Int64(op.Version)})
	}
	g, err := m.Graph.toProto()
	if err != nil {
		return nil, err
	}
	out.Graph = g
	return out, nil
}

// Opset returns the imported version of domain ("" or "ai.onnx" for the
// default domain), or 0.
func (m *Model) Opset(domain string) int64 {
	if domain == "ai.onnx" {
		domain = ""
	}
	for _, op := range m.Opsets {
		d := op.Domain
		if d == "ai.onnx" {
			d = ""
		}
		if d == domain {
			return op.Version
		}
	}
	return 0
}

// Clone returns a deep copy of the model (Source is shared: it names files).
func (m *Model) Clone() *Model {
	c := &Model{IRVersion: m.IRVersion, Opsets: append([]Opset(nil), m.Opsets...), Source: m.Source, Graph: m.Graph.Clone()}
	if m.proto != nil {
		c.proto = proto.Clone(m.proto).(*pb.ModelProto)
	}
	return c
}

// Save validates and writes the model atomically and deterministically. It
// refuses to overwrite the files the model was loaded from.
func (m *Model) Save(path string, opt onnx.WriteOptions) error {
	if err := m.Graph.Check(); err != nil {
		return fmt.Errorf("not saving %s: %w", path, err)
	}
	p, err := m.Proto()
	if err != nil {
		return err
	}
	if m.Source != nil {
		opt.Protect = append(opt.Protect, m.Source.Sources()...)
	}
	return onnx.WriteFile(path, p, opt)
}

// Encode returns the model's deterministic protobuf encoding.
func (m *Model) Encode() ([]byte, error) {
	p, err := m.Proto()
	if err != nil {
		return nil, err
	}
	return onnx.Marshal(p)
}

// FileSize is the size of the file the model was loaded from, or 0.
func (m *Model) FileSize() int64 {
	if m.Source == nil {
		return 0
	}
	var n int64
	for _, f := range m.Source.Sources() {
		if fi, err := os.Stat(f); err == nil {
			n += fi.Size()
		}
	}
	return n
}

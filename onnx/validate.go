package onnx

import (
	"fmt"

	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
)

// MaxIRVersion is the newest ONNX IR version Poda reads.
const MaxIRVersion = 11

// model checks a decoded model against the ONNX IR rules and the limits.
func (c *checker) model(m *pb.ModelProto) error {
	ir := m.GetIrVersion()
	if ir <= 0 {
		return c.errf("model", "ir_version is missing")
	}
	if ir > MaxIRVersion {
		return c.errf("model", "ir_version %d is newer than the %d Poda supports", ir, MaxIRVersion)
	}
	if m.Graph == nil {
		return c.errf("model", "has no graph")
	}
	domains := map[string]bool{}
	for _, op := range m.OpsetImport {
		d := canonicalDomain(op.GetDomain())
		if domains[d] {
			return c.errf("model", "opset_import lists domain %q twice", op.GetDomain())
		}
		if op.GetVersion() <= 0 {
			return c.errf("model", "opset_import for domain %q has version %d", op.GetDomain(), op.GetVersion())
		}
		domains[d] = true
	}
	if ir >= 3 && len(m.OpsetImport) == 0 {
		return c.errf("model", "opset_import is empty (required from IR version 3)")
	}
	if err := c.uniqueKeys("model metadata_props", m.MetadataProps); err != nil {
		return err
	}
	nodes := 0
	for _, f := range m.Functions {
		fd := map[string]bool{}
		for _, op := range f.OpsetImport {
			fd[canonicalDomain(op.GetDomain())] = true
		}
		scope := newScope(nil)
		for _, in := range f.Input {
			scope.define(in)
		}
		fw := fmt.Sprintf("function %q", f.GetName())
		for _, a := range f.AttributeProto {
			if err := c.attribute(fw, a, scope, fd, &nodes); err != nil {
				return err
			}
		}
		if err := c.nodes(fw, f.Node, scope, fd, &nodes); err != nil {
			return err
		}
		// A function's node can call another local function by its domain.
		domains[canonicalDomain(f.GetDomain())] = true
	}
	if err := c.graph(m.Graph, nil, domains, &nodes); err != nil {
		return err
	}
	// Poda does not interpret training graphs but carries them through, so
	// their tensors obey the same rules as every other tensor.
	for _, ti := range m.TrainingInfo {
		for _, g := range []*pb.GraphProto{ti.Initialization, ti.Algorithm} {
			if g != nil {
				if err := c.graphTensors(g, &nodes); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// graphTensors checks every tensor of a graph (and its subgraphs) that is
// only carried, not interpreted: each tensor, the nesting depth and the
// node count, but not the graph's scoping rules.
func (c *checker) graphTensors(g *pb.GraphProto, count *int) error {
	c.depth++
	defer func() { c.depth-- }()
	gname := fmt.Sprintf("graph %q", g.GetName())
	if c.depth > c.limits.MaxDepth {
		return c.errf(gname, "subgraphs nest %d deep, over the limit of %d", c.depth, c.limits.MaxDepth)
	}
	for _, t := range g.Initializer {
		if err := c.tensor(tensorWhere(t.GetName()), t); err != nil {
			return err
		}
	}
	for _, st := range g.SparseInitializer {
		if err := c.sparse(tensorWhere(st.GetValues().GetName()), st); err != nil {
			return err
		}
	}
	for _, n := range g.Node {
		*count++
		if *count > c.limits.MaxNodes {
			return c.errf(gname, "has more than %d nodes", c.limits.MaxNodes)
		}
		nw := nodeWhere(n.GetName(), n.GetOpType())
		for _, a := range n.Attribute {
			aw := fmt.Sprintf("%s attribute %q", nw, a.GetName())
			for _, t := range append([]*pb.TensorProto{a.T}, a.Tensors...) {
				if t != nil {
					if err := c.tensor(aw, t); err != nil {
						return err
					}
				}
			}
			for _, st := range append([]*pb.SparseTensorProto{a.SparseTensor}, a.SparseTensors...) {
				if st != nil {
					if err := c.sparse(aw, st); err != nil {
						return err
					}
				}
			}
			for _, sg := range append([]*pb.GraphProto{a.G}, a.Graphs...) {
				if sg != nil {
					if err := c.graphTensors(sg, count); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

func canonicalDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

func (c *checker) uniqueKeys(where string, props []*pb.StringStringEntryProto) error {
	seen := map[string]bool{}
	for _, p := range props {
		if seen[p.GetKey()] {
			return c.errf(where, "key %q appears twice", p.GetKey())
		}
		seen[p.GetKey()] = true
	}
	return nil
}

// scope is the set of value names visible at a point of a graph: the
// graph's inputs, initializers and earlier outputs, plus outer scopes.
type scope struct {
	outer *scope
	names map[string]bool
}

func newScope(outer *scope) *scope { return &scope{outer: outer, names: map[string]bool{}} }

func (s *scope) define(name string) { s.names[name] = true }

func (s *scope) has(name string) bool {
	for ; s != nil; s = s.outer {
		if s.names[name] {
			return true
		}
	}
	return false
}

// graph checks a graph and, recursively, its subgraphs.
func (c *checker) graph(g *pb.GraphProto, outer *scope, domains map[string]bool, nodes *int) error {
	c.depth++
	defer func() { c.depth-- }()
	gname := fmt.Sprintf("graph %q", g.GetName())
	if c.depth > c.limits.MaxDepth {
		return c.errf(gname, "subgraphs nest %d deep, over the limit of %d", c.depth, c.limits.MaxDepth)
	}
	s := newScope(outer)
	for _, vi := range g.Input {
		if err := c.valueInfo(vi); err != nil {
			return err
		}
		s.define(vi.GetName())
	}
	for _, vi := range g.Output {
		if err := c.valueInfo(vi); err != nil {
			return err
		}
	}
	for _, vi := range g.ValueInfo {
		if err := c.valueInfo(vi); err != nil {
			return err
		}
	}
	inits := map[string]bool{}
	for _, t := range g.Initializer {
		name := t.GetName()
		if name == "" {
			return c.errf(gname, "has an initializer with no name")
		}
		if inits[name] {
			return c.errf(tensorWhere(name), "initializer name is used twice")
		}
		inits[name] = true
		if err := c.tensor(tensorWhere(name), t); err != nil {
			return err
		}
		s.define(name)
	}
	for _, st := range g.SparseInitializer {
		name := st.GetValues().GetName()
		if name == "" {
			return c.errf(gname, "has a sparse initializer with no name")
		}
		if inits[name] {
			return c.errf(tensorWhere(name), "initializer name is used twice")
		}
		inits[name] = true
		if err := c.sparse(tensorWhere(name), st); err != nil {
			return err
		}
		s.define(name)
	}
	if err := c.nodes(gname, g.Node, s, domains, nodes); err != nil {
		return err
	}
	for _, o := range g.Output {
		if !s.has(o.GetName()) {
			return c.errf(gname, "output %q is not produced by any node, input or initializer", o.GetName())
		}
	}
	return c.uniqueKeys(gname+" metadata_props", g.MetadataProps)
}

// nodes checks that nodes are in topological order, outputs are assigned
// once (SSA), domains are imported, and attributes are well formed.
func (c *checker) nodes(where string, ns []*pb.NodeProto, s *scope, domains map[string]bool, count *int) error {
	produced := map[string]bool{}
	for _, n := range ns {
		*count++
		if *count > c.limits.MaxNodes {
			return c.errf(where, "has more than %d nodes", c.limits.MaxNodes)
		}
		nw := nodeWhere(n.GetName(), n.GetOpType())
		if n.GetOpType() == "" {
			return c.errf(nw, "op_type is empty")
		}
		if !domains[canonicalDomain(n.GetDomain())] {
			return c.errf(nw, "domain %q is not listed in opset_import", n.GetDomain())
		}
		for _, in := range n.Input {
			if in != "" && !s.has(in) {
				return c.errf(nw, "input %q is not produced by an earlier node, a graph input or an initializer (graph not in topological order, or a cycle)", in)
			}
		}
		attrs := map[string]bool{}
		for _, a := range n.Attribute {
			if a.GetName() == "" {
				return c.errf(nw, "has an attribute with no name")
			}
			if attrs[a.GetName()] {
				return c.errf(nw, "attribute %q appears twice", a.GetName())
			}
			attrs[a.GetName()] = true
			if err := c.attribute(nw, a, s, domains, count); err != nil {
				return err
			}
		}
		for _, out := range n.Output {
			if out == "" {
				continue
			}
			if produced[out] || s.names[out] {
				return c.errf(nw, "output %q is assigned more than once (ONNX graphs are single-assignment)", out)
			}
			produced[out] = true
			s.define(out)
		}
	}
	return nil
}

func (c *checker) attribute(nw string, a *pb.AttributeProto, s *scope, domains map[string]bool, count *int) error {
	aw := fmt.Sprintf("%s attribute %q", nw, a.GetName())
	if a.T != nil {
		if err := c.tensor(aw, a.T); err != nil {
			return err
		}
	}
	for _, t := range a.Tensors {
		if err := c.tensor(aw, t); err != nil {
			return err
		}
	}
	if a.SparseTensor != nil {
		if err := c.sparse(aw, a.SparseTensor); err != nil {
			return err
		}
	}
	for _, st := range a.SparseTensors {
		if err := c.sparse(aw, st); err != nil {
			return err
		}
	}
	if len(a.Ints) > 1<<20 {
		return c.errf(aw, "has %d ints", len(a.Ints))
	}
	if a.G != nil {
		if err := c.graph(a.G, s, domains, count); err != nil {
			return err
		}
	}
	for _, g := range a.Graphs {
		if err := c.graph(g, s, domains, count); err != nil {
			return err
		}
	}
	return nil
}

func (c *checker) valueInfo(vi *pb.ValueInfoProto) error {
	where := fmt.Sprintf("value %q", vi.GetName())
	if vi.GetName() == "" {
		return c.errf("graph", "has a value_info with no name")
	}
	var check func(t *pb.TypeProto, depth int) error
	check = func(t *pb.TypeProto, depth int) error {
		if t == nil {
			return nil
		}
		if depth > c.limits.MaxDepth {
			return c.errf(where, "type nests deeper than %d", c.limits.MaxDepth)
		}
		if tt := t.GetTensorType(); tt != nil {
			return c.shape(where, tt.GetShape())
		}
		if st := t.GetSparseTensorType(); st != nil {
			return c.shape(where, st.GetShape())
		}
		if sq := t.GetSequenceType(); sq != nil {
			return check(sq.GetElemType(), depth+1)
		}
		if op := t.GetOptionalType(); op != nil {
			return check(op.GetElemType(), depth+1)
		}
		if mp := t.GetMapType(); mp != nil {
			return check(mp.GetValueType(), depth+1)
		}
		return nil
	}
	return check(vi.GetType(), 0)
}

func (c *checker) shape(where string, s *pb.TensorShapeProto) error {
	if s == nil {
		return nil
	}
	if len(s.Dim) > c.limits.MaxRank {
		return c.errf(where, "shape has rank %d, over the limit of %d", len(s.Dim), c.limits.MaxRank)
	}
	for i, d := range s.Dim {
		if v, ok := d.Value.(*pb.TensorShapeProto_Dimension_DimValue); ok && v.DimValue < 0 {
			return c.errf(where, "shape dim %d is negative (%d)", i, v.DimValue)
		}
	}
	return nil
}

// tensorSize checks a tensor's type and dims and returns its element count
// and byte size.
func (c *checker) tensorSize(where string, t *pb.TensorProto) (numel, size int64, err error) {
	dt := tensor.DType(t.GetDataType())
	if !dt.Valid() {
		if t.GetDataType() > int32(tensor.BFloat16) && t.GetDataType() <= 23 {
			return 0, 0, c.errf(where, "data_type %d is an ONNX type Poda does not support", t.GetDataType())
		}
		return 0, 0, c.errf(where, "data_type %d is undefined or unknown", t.GetDataType())
	}
	if len(t.Dims) > c.limits.MaxRank {
		return 0, 0, c.errf(where, "has rank %d, over the limit of %d", len(t.Dims), c.limits.MaxRank)
	}
	numel, err = tensor.Numel(t.Dims)
	if err != nil {
		return 0, 0, c.errf(where, "dims %v: %v", t.Dims, err)
	}
	if dt == tensor.String {
		return numel, 0, nil
	}
	size, err = tensor.ByteSize(numel, dt)
	if err != nil {
		return 0, 0, c.errf(where, "dims %v: byte size overflows int64", t.Dims)
	}
	if size > c.limits.MaxTensorBytes {
		return 0, 0, c.errf(where, "needs %d bytes, over the %d-byte limit for one tensor", size, c.limits.MaxTensorBytes)
	}
	c.total += size
	if c.total > c.limits.MaxTotalBytes {
		return 0, 0, c.errf(where, "brings the model's tensor data to %d bytes, over the %d-byte limit", c.total, c.limits.MaxTotalBytes)
	}
	return numel, size, nil
}

// tensor checks one TensorProto: type, dims, and that the data present
// matches them exactly.
func (c *checker) tensor(where string, t *pb.TensorProto) error {
	c.tensors++
	if c.tensors > c.limits.MaxTensors {
		return c.errf(where, "is tensor number %d of the model, over the limit of %d", c.tensors, c.limits.MaxTensors)
	}
	numel, size, err := c.tensorSize(where, t)
	if err != nil {
		return err
	}
	if t.Segment != nil {
		return c.errf(where, "uses segments, which Poda does not support")
	}
	if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
		if t.RawData != nil || hasTypedData(t) {
			return c.errf(where, "is marked external but also holds inline data")
		}
		_, err := c.externalInfo(where, t, size)
		return err
	}
	if len(t.ExternalData) > 0 {
		return c.errf(where, "has external_data entries but data_location is not EXTERNAL")
	}
	dt := tensor.DType(t.GetDataType())
	if t.RawData != nil {
		if hasTypedData(t) {
			return c.errf(where, "holds both raw_data and typed data")
		}
		if dt == tensor.String {
			return c.errf(where, "string tensors cannot use raw_data")
		}
		if int64(len(t.RawData)) != size {
			return c.errf(where, "raw_data has %d bytes, want %d (%d elements of %s)", len(t.RawData), size, numel, dt)
		}
		return nil
	}
	if fields := typedFields(t); len(fields) > 1 {
		return c.errf(where, "holds values in both %s and %s", fields[0], fields[1])
	}
	got, field := typedCount(t)
	want := numel
	switch dt {
	case tensor.Complex64, tensor.Complex128:
		want = 2 * numel
	}
	if got != want {
		if got == 0 && field == "" {
			return c.errf(where, "has no data for its %d elements", numel)
		}
		return c.errf(where, "%s has %d values, want %d for dims %v", field, got, want, t.Dims)
	}
	if field != "" && field != typedField(dt) {
		return c.errf(where, "holds %s, but a %s tensor stores its values in %s", field, dt, typedField(dt))
	}
	return nil
}

func hasTypedData(t *pb.TensorProto) bool {
	n, _ := typedCount(t)
	return n > 0
}

// typedCount returns how many values the tensor's typed fields hold, and
// which field holds them.
func typedCount(t *pb.TensorProto) (int64, string) {
	switch {
	case len(t.FloatData) > 0:
		return int64(len(t.FloatData)), "float_data"
	case len(t.Int32Data) > 0:
		return int64(len(t.Int32Data)), "int32_data"
	case len(t.StringData) > 0:
		return int64(len(t.StringData)), "string_data"
	case len(t.Int64Data) > 0:
		return int64(len(t.Int64Data)), "int64_data"
	case len(t.DoubleData) > 0:
		return int64(len(t.DoubleData)), "double_data"
	case len(t.Uint64Data) > 0:
		return int64(len(t.Uint64Data)), "uint64_data"
	}
	return 0, ""
}

// typedFields lists the typed fields that hold values.
func typedFields(t *pb.TensorProto) []string {
	var out []string
	for _, f := range []struct {
		n    int
		name string
	}{
		{len(t.FloatData), "float_data"}, {len(t.Int32Data), "int32_data"}, {len(t.StringData), "string_data"},
		{len(t.Int64Data), "int64_data"}, {len(t.DoubleData), "double_data"}, {len(t.Uint64Data), "uint64_data"},
	} {
		if f.n > 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// typedField is the field that holds values of dt when raw_data is unused.
func typedField(dt tensor.DType) string {
	switch dt {
	case tensor.Float, tensor.Complex64:
		return "float_data"
	case tensor.Int64:
		return "int64_data"
	case tensor.String:
		return "string_data"
	case tensor.Double, tensor.Complex128:
		return "double_data"
	case tensor.Uint32, tensor.Uint64:
		return "uint64_data"
	}
	return "int32_data"
}

// sparse checks a SparseTensorProto: values and indices well formed, the
// indices within the dense shape and strictly increasing.
func (c *checker) sparse(where string, st *pb.SparseTensorProto) error {
	v, ix := st.GetValues(), st.GetIndices()
	if v == nil || ix == nil {
		return c.errf(where, "sparse tensor lacks values or indices")
	}
	if len(v.Dims) != 1 {
		return c.errf(where, "sparse values must be 1-D, got dims %v", v.Dims)
	}
	if err := c.tensor(where+" values", v); err != nil {
		return err
	}
	if ix.GetDataType() != int32(tensor.Int64) {
		return c.errf(where, "sparse indices must be int64, got %s", tensor.DType(ix.GetDataType()))
	}
	if err := c.tensor(where+" indices", ix); err != nil {
		return err
	}
	// The dense shape is what Poda will allocate: check it like a tensor.
	dense := &pb.TensorProto{Dims: st.Dims, DataType: v.DataType}
	numel, _, err := c.tensorSize(where, dense)
	if err != nil {
		return err
	}
	nnz := v.Dims[0]
	rank := int64(len(st.Dims))
	switch {
	case len(ix.Dims) == 1 && ix.Dims[0] == nnz:
	case len(ix.Dims) == 2 && ix.Dims[0] == nnz && ix.Dims[1] == rank:
	default:
		return c.errf(where, "sparse indices have dims %v, want [%d] or [%d %d]", ix.Dims, nnz, nnz, rank)
	}
	if nnz > numel {
		return c.errf(where, "sparse tensor has %d values for %d dense elements", nnz, numel)
	}
	if ix.GetDataLocation() == pb.TensorProto_EXTERNAL {
		return nil // checked after the external data is loaded
	}
	return c.sparseIndices(where, st)
}

// sparseIndices checks the (inline) indices of a sparse tensor.
func (c *checker) sparseIndices(where string, st *pb.SparseTensorProto) error {
	idx, err := int64Values(st.GetIndices())
	if err != nil {
		return c.errf(where, "sparse indices: %v", err)
	}
	nnz := st.GetValues().Dims[0]
	rank := len(st.Dims)
	strides := make([]int64, rank)
	n := int64(1)
	for i := rank - 1; i >= 0; i-- {
		strides[i] = n
		n *= st.Dims[i]
	}
	prev := int64(-1)
	coords := len(st.GetIndices().Dims) == 2
	for k := int64(0); k < nnz; k++ {
		var lin int64
		if coords {
			for d := 0; d < rank; d++ {
				x := idx[k*int64(rank)+int64(d)]
				if x < 0 || x >= st.Dims[d] {
					return c.errf(where, "sparse index %d is out of range in dim %d (%d not in [0,%d))", k, d, x, st.Dims[d])
				}
				lin += x * strides[d]
			}
		} else {
			lin = idx[k]
			if lin < 0 || lin >= n {
				return c.errf(where, "sparse index %d is out of range (%d not in [0,%d))", k, lin, n)
			}
		}
		if lin <= prev {
			return c.errf(where, "sparse indices are not strictly increasing at position %d", k)
		}
		prev = lin
	}
	return nil
}

// int64Values returns the values of a validated INT64 tensor.
func int64Values(t *pb.TensorProto) ([]int64, error) {
	if t.GetDataType() != int32(tensor.Int64) {
		return nil, fmt.Errorf("want int64, got %s", tensor.DType(t.GetDataType()))
	}
	if t.RawData != nil {
		out := make([]int64, len(t.RawData)/8)
		for i := range out {
			b := t.RawData[8*i:]
			out[i] = int64(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
				uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
		}
		return out, nil
	}
	return t.Int64Data, nil
}

// forEachTensor visits every TensorProto site of a model: initializers,
// sparse initializers, attribute tensors, in every (sub)graph, function
// (default attributes included) and training graph.
// It stops when visit returns false.
func forEachTensor(m *pb.ModelProto, visit func(where string, t *pb.TensorProto) bool) {
	var graph func(g *pb.GraphProto) bool
	var nodes func(ns []*pb.NodeProto) bool
	sparse := func(where string, st *pb.SparseTensorProto) bool {
		if st == nil {
			return true
		}
		if st.Values != nil && !visit(where+" values", st.Values) {
			return false
		}
		if st.Indices != nil && !visit(where+" indices", st.Indices) {
			return false
		}
		return true
	}
	var attr func(aw string, a *pb.AttributeProto) bool
	nodes = func(ns []*pb.NodeProto) bool {
		for _, n := range ns {
			for _, a := range n.Attribute {
				if !attr(fmt.Sprintf("%s attribute %q", nodeWhere(n.GetName(), n.GetOpType()), a.GetName()), a) {
					return false
				}
			}
		}
		return true
	}
	attr = func(aw string, a *pb.AttributeProto) bool {
		if a.T != nil && !visit(aw, a.T) {
			return false
		}
		for _, t := range a.Tensors {
			if !visit(aw, t) {
				return false
			}
		}
		if !sparse(aw, a.SparseTensor) {
			return false
		}
		for _, st := range a.SparseTensors {
			if !sparse(aw, st) {
				return false
			}
		}
		if a.G != nil && !graph(a.G) {
			return false
		}
		for _, g := range a.Graphs {
			if !graph(g) {
				return false
			}
		}
		return true
	}
	graph = func(g *pb.GraphProto) bool {
		for _, t := range g.Initializer {
			if !visit(tensorWhere(t.GetName()), t) {
				return false
			}
		}
		for _, st := range g.SparseInitializer {
			if !sparse(tensorWhere(st.GetValues().GetName()), st) {
				return false
			}
		}
		return nodes(g.Node)
	}
	if m.Graph != nil && !graph(m.Graph) {
		return
	}
	for _, f := range m.Functions {
		for _, a := range f.AttributeProto {
			if !attr(fmt.Sprintf("function %q attribute %q", f.GetName(), a.GetName()), a) {
				return
			}
		}
		if !nodes(f.Node) {
			return
		}
	}
	for _, ti := range m.TrainingInfo {
		for _, g := range []*pb.GraphProto{ti.Initialization, ti.Algorithm} {
			if g != nil && !graph(g) {
				return
			}
		}
	}
}

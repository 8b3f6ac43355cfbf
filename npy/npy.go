// Package npy owns Poda's NumPy interchange: reading and writing .npy files
// (format versions 1.0, 2.0 and 3.0) and .npz archives (zips of .npy members,
// stored or deflated) to and from *tensor.Tensor.
//
// Reading is strict and bounded: the header is parsed by a small grammar
// (not evaluated), its length, the rank and the data size are capped by
// Limits, and the element count is checked with tensor.Numel and against the
// bytes that remain in the file before anything is allocated. Little-endian
// data only; big-endian arrays are rejected, Fortran-ordered arrays are
// converted to row-major order.
//
// Writing is deterministic (the same tensor gives the same bytes) and follows
// NumPy's own header layout, padded so the data starts on a 64-byte boundary,
// so numpy.load reads the files. File writers are atomic: a temporary file in
// the destination directory is written, synced and renamed over the target.
//
// Element types map as follows: <f4 → tensor.Float (F32), <i8 → tensor.Int64
// (I64); every other supported type is kept in Raw as little-endian bytes:
// <f8 Double, <f2 Float16, <i4 Int32, <i2 Int16, <u2 Uint16, <u4 Uint32,
// <u8 Uint64, <c8 Complex64, <c16 Complex128, |u1 Uint8, |i1 Int8,
// |b1 Bool. AsFloat32 and AsInt64 convert numeric tensors.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/podaml/poda/tensor"
)

// Limits caps what a reader accepts from untrusted input.
type Limits struct {
	// MaxHeaderBytes caps the header length field (NumPy itself refuses
	// headers over 10 000 characters by default).
	MaxHeaderBytes int
	// MaxRank caps the number of dimensions (NumPy's own maximum is 64).
	MaxRank int
	// MaxBytes caps the data size of one array, and for .npz archives the
	// total uncompressed size of all members.
	MaxBytes int64
	// MaxEntries caps the number of members in an .npz archive.
	MaxEntries int
}

// DefaultLimits are used by Read, ReadFile and ReadNPZ.
var DefaultLimits = Limits{
	MaxHeaderBytes: 1 << 16,
	MaxRank:        64,
	MaxBytes:       16 << 30,
	MaxEntries:     1 << 16,
}

const (
	magic    = "\x93NUMPY"
	align    = 64 // NumPy's ARRAY_ALIGN
	growth   = 21 // NumPy's GROWTH_AXIS_MAX_DIGITS
	chunkLen = 1 << 20
)

// Error is a rejected input: File names the file (empty when reading from
// an unnamed stream) and Msg the rule that was broken.
type Error struct {
	File string
	Msg  string
	Err  error // underlying I/O error, if any
}

func (e *Error) Error() string {
	if e.File == "" {
		return "npy: " + e.Msg
	}
	return "npy: " + e.File + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

func errf(file, format string, args ...any) error {
	var wrapped error
	for _, a := range args {
		if e, ok := a.(error); ok {
			wrapped = e
		}
	}
	return &Error{File: file, Msg: fmt.Sprintf(format, args...), Err: wrapped}
}

// descrs maps a dtype to the descr NumPy writes for it.
var descrs = map[tensor.DType]string{
	tensor.Float: "<f4", tensor.Double: "<f8", tensor.Float16: "<f2",
	tensor.Int8: "|i1", tensor.Uint8: "|u1", tensor.Bool: "|b1",
	tensor.Int16: "<i2", tensor.Uint16: "<u2", tensor.Int32: "<i4",
	tensor.Uint32: "<u4", tensor.Int64: "<i8", tensor.Uint64: "<u8",
	tensor.Complex64: "<c8", tensor.Complex128: "<c16",
}

// kinds maps a descr without its byte-order character to a dtype.
var kinds = map[string]tensor.DType{}

func init() {
	for d, s := range descrs {
		kinds[s[1:]] = d
	}
}

// parseDescr maps a NumPy type string to a dtype.
func parseDescr(s string) (tensor.DType, error) {
	if len(s) < 2 {
		return 0, fmt.Errorf("descr %q is not a NumPy type string", s)
	}
	d, ok := kinds[s[1:]]
	if !ok {
		return 0, fmt.Errorf("descr %q: unsupported element type (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1 c8 c16)", s)
	}
	order := s[0]
	if d.Size() == 1 {
		if order != '|' && order != '<' && order != '>' && order != '=' {
			return 0, fmt.Errorf("descr %q: bad byte-order character %q", s, order)
		}
		return d, nil
	}
	switch order {
	case '<':
		return d, nil
	case '>':
		return 0, fmt.Errorf("descr %q: big-endian data is not supported (convert with arr.astype(arr.dtype.newbyteorder('<')))", s)
	default:
		return 0, fmt.Errorf("descr %q: byte order %q is not explicit little-endian '<'", s, order)
	}
}

// header is a parsed .npy header.
type header struct {
	dtype   tensor.DType
	fortran bool
	shape   []int64
}

// parseHeader parses the Python-literal dictionary of a .npy header:
// exactly the keys 'descr', 'fortran_order' and 'shape', each once,
// followed by spaces and a final newline.
func parseHeader(h []byte, maxRank int) (header, error) {
	var out header
	p := &hparser{s: h}
	for i, c := range h {
		if c >= 0x80 || (c < 0x20 && c != '\n' && c != '\t') {
			return out, fmt.Errorf("header byte %d is 0x%02x, not printable ASCII", i, c)
		}
	}
	if len(h) == 0 || h[len(h)-1] != '\n' {
		return out, errors.New("header does not end with a newline")
	}
	p.ws()
	if !p.eat('{') {
		return out, p.fail("header is not a dictionary: want '{'")
	}
	seen := map[string]bool{}
	for {
		p.ws()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return out, err
		}
		if seen[key] {
			return out, p.fail("duplicate header key %q", key)
		}
		seen[key] = true
		p.ws()
		if !p.eat(':') {
			return out, p.fail("want ':' after key %q", key)
		}
		p.ws()
		switch key {
		case "descr":
			if p.peek() == '[' || p.peek() == '{' {
				return out, p.fail("structured dtypes are not supported")
			}
			s, err := p.str()
			if err != nil {
				return out, err
			}
			if out.dtype, err = parseDescr(s); err != nil {
				return out, err
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				out.fortran = true
			case p.word("False"):
				out.fortran = false
			default:
				return out, p.fail("fortran_order must be True or False")
			}
		case "shape":
			if out.shape, err = p.tuple(maxRank); err != nil {
				return out, err
			}
		default:
			return out, p.fail("unexpected header key %q (want only descr, fortran_order, shape)", key)
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		p.ws()
		if !p.eat('}') {
			return out, p.fail("want ',' or '}' after the value of %q", key)
		}
		break
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return out, fmt.Errorf("header lacks the key %q", k)
		}
	}
	// Only space padding and the final newline may follow.
	rest := p.s[p.i : len(p.s)-1]
	if len(bytes.Trim(rest, " ")) != 0 {
		return out, p.fail("unexpected text after the header dictionary")
	}
	return out, nil
}

type hparser struct {
	s []byte
	i int
}

func (p *hparser) fail(format string, args ...any) error {
	return fmt.Errorf("header offset %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *hparser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *hparser) ws() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

func (p *hparser) eat(c byte) bool {
	if p.peek() == c {
		p.i++
		return true
	}
	return false
}

func (p *hparser) word(w string) bool {
	if bytes.HasPrefix(p.s[p.i:], []byte(w)) {
		p.i += len(w)
		return true
	}
	return false
}

// str parses a quoted string without escapes.
func (p *hparser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.fail("want a quoted string")
	}
	j := bytes.IndexByte(p.s[p.i+1:], q)
	if j < 0 {
		return "", p.fail("unterminated string")
	}
	s := p.s[p.i+1 : p.i+1+j]
	if bytes.ContainsAny(s, "\\\n") {
		return "", p.fail("escapes and newlines are not allowed in header strings")
	}
	p.i += j + 2
	return string(s), nil
}

// tuple parses a Python tuple of non-negative ints: (), (3,), (3, 4).
func (p *hparser) tuple(maxRank int) ([]int64, error) {
	if !p.eat('(') {
		return nil, p.fail("shape must be a tuple")
	}
	dims := []int64{}
	for {
		p.ws()
		if p.eat(')') { // "()" or after a trailing comma
			return dims, nil
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		digits := string(p.s[start:p.i])
		if digits == "" {
			if p.peek() == '-' {
				return nil, p.fail("negative dimension in shape")
			}
			return nil, p.fail("shape entries must be non-negative integers")
		}
		if len(digits) > 1 && digits[0] == '0' {
			return nil, p.fail("shape entry %q has a leading zero", digits)
		}
		v, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return nil, p.fail("shape entry %q does not fit in int64", digits)
		}
		if len(dims) >= maxRank {
			return nil, p.fail("rank exceeds the limit of %d", maxRank)
		}
		dims = append(dims, v)
		p.ws()
		if p.eat(',') {
			continue
		}
		p.ws()
		if !p.eat(')') {
			return nil, p.fail("want ',' or ')' in shape")
		}
		if len(dims) == 1 {
			// "(3)" is an int in Python; NumPy's own writer emits "(3,)".
			return nil, p.fail("one-element shape tuple needs a trailing comma")
		}
		return dims, nil
	}
}

// Read reads one .npy array from r with DefaultLimits. It consumes exactly
// the array's bytes, so arrays written back to back can be read in turn. When
// r reports how much is left (a Len method, as bytes.Reader has), the data
// size is checked against it before allocating; otherwise the buffer grows
// only as data actually arrives.
func Read(r io.Reader) (*tensor.Tensor, error) { return DefaultLimits.Read(r) }

// ReadFile reads a .npy file with DefaultLimits. The file must hold exactly
// one array and nothing after it.
func ReadFile(path string) (*tensor.Tensor, error) { return DefaultLimits.ReadFile(path) }

// Read is Read with these limits.
func (l Limits) Read(r io.Reader) (*tensor.Tensor, error) {
	remaining := int64(-1)
	if lr, ok := r.(interface{ Len() int }); ok {
		remaining = int64(lr.Len())
	}
	t, _, err := l.decode(r, "", remaining, remaining >= 0)
	return t, err
}

// ReadFile is ReadFile with these limits.
func (l Limits) ReadFile(path string) (*tensor.Tensor, error) {
	if err := regular(path); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	t, used, err := l.decode(bufio.NewReaderSize(f, 1<<16), path, st.Size(), true)
	if err != nil {
		return nil, err
	}
	if used != st.Size() {
		return nil, errf(path, "%d trailing bytes after the array data", st.Size()-used)
	}
	return t, nil
}

// decode reads one array. remaining is the number of bytes left in the
// input, or -1 when unknown; backed says that many bytes really exist (a
// file's size), as opposed to a size declared by untrusted metadata. It
// returns the number of bytes consumed.
func (l Limits) decode(r io.Reader, name string, remaining int64, backed bool) (*tensor.Tensor, int64, error) {
	var pre [10]byte
	if _, err := io.ReadFull(r, pre[:8]); err != nil {
		return nil, 0, errf(name, "truncated before the end of the magic string: %v", err)
	}
	if string(pre[:6]) != magic {
		return nil, 0, errf(name, "not a .npy file: bad magic string %q", pre[:6])
	}
	major, minor := pre[6], pre[7]
	var hlen int64
	used := int64(8)
	switch {
	case major == 1 && minor == 0:
		if _, err := io.ReadFull(r, pre[:2]); err != nil {
			return nil, 0, errf(name, "truncated header length: %v", err)
		}
		hlen = int64(binary.LittleEndian.Uint16(pre[:2]))
		used += 2
	case (major == 2 || major == 3) && minor == 0:
		if _, err := io.ReadFull(r, pre[:4]); err != nil {
			return nil, 0, errf(name, "truncated header length: %v", err)
		}
		hlen = int64(binary.LittleEndian.Uint32(pre[:4]))
		used += 4
	default:
		return nil, 0, errf(name, "unsupported format version %d.%d (want 1.0, 2.0 or 3.0)", major, minor)
	}
	if hlen > int64(l.MaxHeaderBytes) {
		return nil, 0, errf(name, "header length %d exceeds the limit of %d bytes", hlen, l.MaxHeaderBytes)
	}
	if remaining >= 0 && used+hlen > remaining {
		return nil, 0, errf(name, "header length %d runs past the end of the input (%d bytes)", hlen, remaining)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, 0, errf(name, "truncated header (want %d bytes): %v", hlen, err)
	}
	used += hlen
	h, err := parseHeader(hb, l.MaxRank)
	if err != nil {
		return nil, 0, errf(name, "%v", err)
	}
	numel, err := tensor.Numel(h.shape)
	if err != nil {
		return nil, 0, errf(name, "shape %v: %v", h.shape, err)
	}
	nbytes, err := tensor.ByteSize(numel, h.dtype)
	if err != nil {
		return nil, 0, errf(name, "shape %v of %v: byte size: %v", h.shape, h.dtype, err)
	}
	if nbytes > l.MaxBytes {
		return nil, 0, errf(name, "shape %v of %v needs %d bytes, over the limit of %d", h.shape, h.dtype, nbytes, l.MaxBytes)
	}
	if numel > math.MaxInt {
		return nil, 0, errf(name, "shape %v has too many elements for this platform", h.shape)
	}
	if remaining >= 0 && nbytes > remaining-used {
		return nil, 0, errf(name, "shape %v of %v needs %d data bytes but only %d remain", h.shape, h.dtype, nbytes, remaining-used)
	}
	raw, err := readN(r, nbytes, backed)
	if err != nil {
		return nil, 0, errf(name, "truncated data (shape %v of %v needs %d bytes): %v", h.shape, h.dtype, nbytes, err)
	}
	used += nbytes
	shape := make([]int, len(h.shape))
	for i, d := range h.shape {
		shape[i] = int(d)
	}
	if h.fortran && len(shape) > 1 {
		raw = fortranToC(raw, shape, h.dtype.Size())
	}
	t, err := fromRaw(h.dtype, shape, raw)
	if err != nil {
		return nil, 0, errf(name, "%v", err)
	}
	return t, used, nil
}

// readN reads exactly n bytes. When the size was verified against the input
// it allocates at once; otherwise it grows the buffer as data arrives, so a
// lying header cannot make it allocate more than the input holds (plus one
// chunk).
func readN(r io.Reader, n int64, verified bool) ([]byte, error) {
	if verified || n <= chunkLen {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, chunkLen)
	for int64(len(b)) < n {
		if len(b) == cap(b) {
			c := min(int64(cap(b))*2, n)
			nb := make([]byte, len(b), c)
			copy(nb, b)
			b = nb
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err != nil && int64(len(b)) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// fortranToC reorders column-major bytes into row-major order.
func fortranToC(src []byte, shape []int, es int) []byte {
	n := tensor.Prod(shape)
	if n == 0 {
		return src
	}
	dst := make([]byte, len(src))
	rank := len(shape)
	fstride := make([]int, rank) // column-major strides in elements
	s := 1
	for i := 0; i < rank; i++ {
		fstride[i] = s
		s *= shape[i]
	}
	idx := make([]int, rank)
	off := 0 // column-major offset of idx
	for k := 0; k < n; k++ {
		copy(dst[k*es:(k+1)*es], src[off*es:(off+1)*es])
		for d := rank - 1; d >= 0; d-- {
			idx[d]++
			off += fstride[d]
			if idx[d] < shape[d] {
				break
			}
			off -= idx[d] * fstride[d]
			idx[d] = 0
		}
	}
	return dst
}

// fromRaw builds a tensor from little-endian element bytes.
func fromRaw(dt tensor.DType, shape []int, raw []byte) (*tensor.Tensor, error) {
	t := &tensor.Tensor{DType: dt, Shape: shape}
	switch dt {
	case tensor.Float:
		t.F32 = make([]float32, len(raw)/4)
		for i := range t.F32 {
			t.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case tensor.Int64:
		t.I64 = make([]int64, len(raw)/8)
		for i := range t.I64 {
			t.I64[i] = int64(binary.LittleEndian.Uint64(raw[8*i:]))
		}
	case tensor.Bool:
		for i, b := range raw {
			if b > 1 {
				return nil, fmt.Errorf("bool element %d has byte value %d, not 0 or 1", i, b)
			}
		}
		t.Raw = raw
	default:
		t.Raw = raw
	}
	return t, nil
}

// check validates a tensor for writing and returns its element count.
func check(t *tensor.Tensor) (int, error) {
	if t == nil {
		return 0, errors.New("nil tensor")
	}
	if _, ok := descrs[t.DType]; !ok {
		return 0, fmt.Errorf("element type %v cannot be written to .npy", t.DType)
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	n64, err := tensor.Numel(dims)
	if err != nil {
		return 0, fmt.Errorf("shape %v: %w", t.Shape, err)
	}
	if _, err := tensor.ByteSize(n64, t.DType); err != nil || n64 > math.MaxInt {
		return 0, fmt.Errorf("shape %v: too large", t.Shape)
	}
	n := int(n64)
	switch t.DType {
	case tensor.Float:
		if len(t.F32) != n {
			return 0, fmt.Errorf("float32 tensor of shape %v has %d elements in F32, want %d", t.Shape, len(t.F32), n)
		}
	case tensor.Int64:
		if len(t.I64) != n {
			return 0, fmt.Errorf("int64 tensor of shape %v has %d elements in I64, want %d", t.Shape, len(t.I64), n)
		}
	default:
		if len(t.Raw) != n*t.DType.Size() {
			return 0, fmt.Errorf("%v tensor of shape %v has %d Raw bytes, want %d", t.DType, t.Shape, len(t.Raw), n*t.DType.Size())
		}
		if t.DType == tensor.Bool {
			for i, b := range t.Raw {
				if b > 1 {
					return 0, fmt.Errorf("bool element %d has byte value %d, not 0 or 1", i, b)
				}
			}
		}
	}
	return n, nil
}

// Header returns the .npy preamble (magic, version, header length and the
// padded header) that Write emits for a tensor of this type and shape,
// laid out byte for byte as numpy.save does.
func Header(dt tensor.DType, shape []int) ([]byte, error) {
	descr, ok := descrs[dt]
	if !ok {
		return nil, fmt.Errorf("npy: element type %v cannot be written to .npy", dt)
	}
	var sb strings.Builder
	sb.WriteString("{'descr': '")
	sb.WriteString(descr)
	sb.WriteString("', 'fortran_order': False, 'shape': (")
	for i, d := range shape {
		if d < 0 {
			return nil, fmt.Errorf("npy: negative dimension %d in shape %v", d, shape)
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		sb.WriteString(",")
	}
	sb.WriteString("), }")
	if len(shape) > 0 {
		sb.WriteString(strings.Repeat(" ", max(0, growth-len(strconv.Itoa(shape[0])))))
	}
	h := sb.String()
	hl := len(h) + 1 // the final newline
	pre := 10
	pad := align - (pre+hl)%align
	if hl+pad > math.MaxUint16 {
		pre = 12
		pad = align - (pre+hl)%align
	}
	out := make([]byte, 0, pre+hl+pad)
	out = append(out, magic...)
	if pre == 10 {
		out = append(out, 1, 0)
		out = binary.LittleEndian.AppendUint16(out, uint16(hl+pad))
	} else {
		out = append(out, 2, 0)
		out = binary.LittleEndian.AppendUint32(out, uint32(hl+pad))
	}
	out = append(out, h...)
	for range pad {
		out = append(out, ' ')
	}
	out = append(out, '\n')
	return out, nil
}

// Write writes t to w as a .npy array (format 1.0 unless the header needs
// 2.0), C order, little-endian. The same tensor always gives the same bytes.
func Write(w io.Writer, t *tensor.Tensor) error {
	n, err := check(t)
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	h, err := Header(t.DType, t.Shape)
	if err != nil {
		return err
	}
	if _, err := w.Write(h); err != nil {
		return err
	}
	switch t.DType {
	case tensor.Float:
		buf := make([]byte, 0, min(n*4, 1<<16))
		for i, v := range t.F32 {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
			if len(buf) == cap(buf) || i == n-1 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	case tensor.Int64:
		buf := make([]byte, 0, min(n*8, 1<<16))
		for i, v := range t.I64 {
			buf = binary.LittleEndian.AppendUint64(buf, uint64(v))
			if len(buf) == cap(buf) || i == n-1 {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
		}
	default:
		if _, err := w.Write(t.Raw); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes t to path atomically (see Write).
func WriteFile(path string, t *tensor.Tensor) error {
	if _, err := check(t); err != nil {
		return &Error{File: path, Msg: err.Error()}
	}
	return writeAtomic(path, func(w io.Writer) error { return Write(w, t) })
}

// regular checks that path is a regular file before it is opened (opening
// a FIFO would block).
func regular(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return errf(path, "not a regular file")
	}
	return nil
}

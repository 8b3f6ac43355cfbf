package npy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podaml/poda/tensor"
)

const python = "/usr/bin/python3"

// needNumPy skips the test unless /usr/bin/python3 with numpy is present.
func needNumPy(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Skipf("skipping NumPy interop: %s not found", python)
	}
	if out, err := exec.Command(python, "-c", "import numpy").CombinedOutput(); err != nil {
		t.Skipf("skipping NumPy interop: numpy not importable: %v %s", err, out)
	}
}

func runPy(t *testing.T, dir, script string) string {
	t.Helper()
	cmd := exec.Command(python, "-c", script)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python failed: %v\n%s", err, out)
	}
	return string(out)
}

// NumPy reads what Go writes, and numpy.save writes the same bytes.
func TestNumPyReadsOurFiles(t *testing.T) {
	needNumPy(t)
	dir := t.TempDir()
	m := map[string]*tensor.Tensor{}
	var names []string
	for _, dt := range allTypes {
		for i, sh := range shapes {
			name := strings.ReplaceAll(dt.String(), " ", "") + "_" + string(rune('a'+i))
			tt := sample(dt, sh...)
			if err := WriteFile(filepath.Join(dir, name+".npy"), tt); err != nil {
				t.Fatal(err)
			}
			m[name] = tt
			names = append(names, name)
		}
	}
	if err := WriteNPZ(filepath.Join(dir, "all.npz"), names, m); err != nil {
		t.Fatal(err)
	}
	if err := WriteNPZCompressed(filepath.Join(dir, "allz.npz"), names, m); err != nil {
		t.Fatal(err)
	}
	// For each file: load it, check it against the npz members, re-save it
	// with numpy and compare bytes; print one line per file.
	script := `
import numpy as np, io, sys
names = sys.argv[1:] if len(sys.argv) > 1 else open('names.txt').read().split()
a = np.load('all.npz'); z = np.load('allz.npz')
assert np.array_equal(np.load('float32_d.npy'), np.arange(5, dtype='<f4') * 0.5 - 3)
assert np.array_equal(np.load('int64_e.npy'), np.arange(6, dtype='<i8').reshape(2, 3) * 10**12 - 7)
assert list(a.keys()) == names, (list(a.keys()), names)
assert list(z.keys()) == names
for n in names:
    x = np.load(n + '.npy')
    assert x.dtype == a[n].dtype and x.shape == a[n].shape and x.tobytes() == a[n].tobytes(), n
    assert z[n].dtype == x.dtype and z[n].shape == x.shape and z[n].tobytes() == x.tobytes(), n
    b = io.BytesIO(); np.save(b, x)
    same = b.getvalue() == open(n + '.npy', 'rb').read()
    print(n, x.dtype.str, x.shape, 'same' if same else 'DIFFERENT')
`
	os.WriteFile(filepath.Join(dir, "names.txt"), []byte(strings.Join(names, "\n")), 0o644)
	out := runPy(t, dir, script)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(names) {
		t.Fatalf("python printed %d lines for %d files:\n%s", len(lines), len(names), out)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, " same") {
			t.Errorf("numpy.save writes different bytes: %s", l)
		}
	}
}

// Go reads what NumPy writes: all supported dtypes, Fortran order,
// versions 2.0 and 3.0, savez and savez_compressed; big-endian is refused.
func TestReadNumPyFiles(t *testing.T) {
	needNumPy(t)
	dir := t.TempDir()
	runPy(t, dir, `
import numpy as np
from numpy.lib import format as f
x = (np.arange(24, dtype=np.float64) * 1.25 - 7).reshape(2, 3, 4)
for s in ['<f4', '<f8', '<f2', '<i8', '<i4', '<i2', '|i1', '|u1', '<u2', '<u4', '<u8']:
    np.save(s.replace('<', 'le_').replace('|', 'p_') + '.npy', x.astype(s))
np.save('bool.npy', (np.arange(6) % 3 == 0).reshape(3, 2))
np.save('fortran.npy', np.asfortranarray(x.astype('<f4')))
np.save('scalar.npy', np.float32(2.5))
np.save('big.npy', x.astype('>f4'))
for v in [(2, 0), (3, 0)]:
    with open('v%d.npy' % v[0], 'wb') as fh:
        f.write_array(fh, x.astype('<i8'), version=v)
np.savez('s.npz', b=x.astype('<f4'), a=np.arange(3))
np.savez_compressed('c.npz', b=x.astype('<f4'), a=np.arange(3))
`)
	want := make([]float32, 24)
	for i := range want {
		want[i] = float32(i)*1.25 - 7
	}
	check := func(name string, tt *tensor.Tensor, err error, dt tensor.DType, shape []int) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if tt.DType != dt || len(tt.Shape) != len(shape) {
			t.Fatalf("%s: got %v %v, want %v %v", name, tt.DType, tt.Shape, dt, shape)
		}
		for i := range shape {
			if tt.Shape[i] != shape[i] {
				t.Fatalf("%s: shape %v, want %v", name, tt.Shape, shape)
			}
		}
	}
	for _, c := range []struct {
		file string
		dt   tensor.DType
	}{
		{"le_f4", tensor.Float}, {"le_f8", tensor.Double}, {"le_f2", tensor.Float16}, {"le_i8", tensor.Int64},
		{"le_i4", tensor.Int32}, {"le_i2", tensor.Int16}, {"p_i1", tensor.Int8}, {"p_u1", tensor.Uint8},
		{"le_u2", tensor.Uint16}, {"le_u4", tensor.Uint32}, {"le_u8", tensor.Uint64}, {"fortran", tensor.Float},
		{"v2", tensor.Int64}, {"v3", tensor.Int64},
	} {
		tt, err := ReadFile(filepath.Join(dir, c.file+".npy"))
		check(c.file, tt, err, c.dt, []int{2, 3, 4})
		f, err := AsFloat32(tt)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		for i, v := range f.F32 {
			w := want[i]
			switch c.dt {
			case tensor.Float, tensor.Double, tensor.Float16:
			case tensor.Uint8, tensor.Uint16, tensor.Uint32, tensor.Uint64:
				continue // negative values wrapped; checked by the signed types
			default:
				w = float32(int64(w)) // numpy truncates toward zero
			}
			if v != w {
				t.Fatalf("%s: element %d = %v, want %v", c.file, i, v, w)
			}
		}
	}
	tt, err := ReadFile(filepath.Join(dir, "bool.npy"))
	check("bool", tt, err, tensor.Bool, []int{3, 2})
	if !bytes.Equal(tt.Raw, []byte{1, 0, 0, 1, 0, 0}) {
		t.Fatalf("bool: %v", tt.Raw)
	}
	tt, err = ReadFile(filepath.Join(dir, "scalar.npy"))
	check("scalar", tt, err, tensor.Float, nil)
	if tt.F32[0] != 2.5 {
		t.Fatalf("scalar: %v", tt.F32)
	}
	if _, err := ReadFile(filepath.Join(dir, "big.npy")); err == nil || !strings.Contains(err.Error(), "big-endian") {
		t.Fatalf("big-endian: err = %v", err)
	}
	for _, f := range []string{"s.npz", "c.npz"} {
		m, order, err := ReadNPZ(filepath.Join(dir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Join(order, ",") != "b,a" {
			t.Fatalf("%s: order %v", f, order)
		}
		check(f+":b", m["b"], nil, tensor.Float, []int{2, 3, 4})
		check(f+":a", m["a"], nil, tensor.Int64, []int{3})
		for i, v := range m["b"].F32 {
			if v != want[i] {
				t.Fatalf("%s: b[%d] = %v", f, i, v)
			}
		}
		if m["a"].I64[2] != 2 {
			t.Fatalf("%s: a = %v", f, m["a"].I64)
		}
	}
}

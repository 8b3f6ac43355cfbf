package data

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func savePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// solid is a w×h NRGBA image of one colour.
func solid(w, h int, c color.NRGBA) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, c)
		}
	}
	return m
}

func TestImageFolder(t *testing.T) {
	root := t.TempDir()
	savePNG(t, filepath.Join(root, "cat", "a.png"), solid(4, 4, color.NRGBA{255, 0, 0, 255}))
	savePNG(t, filepath.Join(root, "cat", "sub", "b.PNG"), solid(4, 4, color.NRGBA{0, 255, 0, 255}))
	g := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range g.Pix {
		g.Pix[i] = uint8(i * 16)
	}
	savePNG(t, filepath.Join(root, "ant", "g.png"), g)
	f, _ := os.Create(filepath.Join(root, "ant", "j.jpg"))
	jpeg.Encode(f, solid(4, 4, color.NRGBA{0, 0, 255, 255}), &jpeg.Options{Quality: 100})
	f.Close()
	os.WriteFile(filepath.Join(root, "ant", "notes.txt"), []byte("skip me"), 0o644)
	os.WriteFile(filepath.Join(root, "ant", ".hidden.png"), []byte("skip me"), 0o644)
	os.WriteFile(filepath.Join(root, "README"), []byte("not a class"), 0o644)
	// A symbolic link to a folder is a class folder too.
	other := t.TempDir()
	savePNG(t, filepath.Join(other, "z.png"), solid(4, 4, color.NRGBA{0, 0, 0, 255}))
	if err := os.Symlink(other, filepath.Join(root, "zebra")); err != nil {
		t.Fatal(err)
	}

	ds, err := LoadImageFolder(root, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 5 || ds.Classes() != 3 || strings.Join(ds.ClassNames(), ",") != "ant,cat,zebra" {
		t.Fatalf("Len %d Classes %d names %v", ds.Len(), ds.Classes(), ds.ClassNames())
	}
	if s := ds.Shape(); s[0] != 3 || s[1] != 4 || s[2] != 4 {
		t.Fatalf("shape %v", s)
	}
	x := make([]float32, 48)
	want := map[string]struct {
		label   int
		r, g, b float32 // first pixel, in [0,1]
	}{
		"g.png": {0, 0, 0, 0}, "j.jpg": {0, 0, 0, 1}, "a.png": {1, 1, 0, 0}, "b.PNG": {1, 0, 1, 0}, "z.png": {2, 0, 0, 0},
	}
	for i := range ds.Len() {
		l, err := ds.Example(i, x)
		if err != nil {
			t.Fatal(err)
		}
		w := want[filepath.Base(ds.Path(i))]
		if l != w.label || math.Abs(float64(x[0]-w.r)) > 0.01 || math.Abs(float64(x[16]-w.g)) > 0.01 || math.Abs(float64(x[32]-w.b)) > 0.01 {
			t.Errorf("%s: label %d first pixel %v %v %v, want %+v", ds.Path(i), l, x[0], x[16], x[32], w)
		}
		if filepath.Base(ds.Path(i)) == "g.png" && (math.Abs(float64(x[5]-80.0/255)) > 1e-6 || x[5] != x[21] || x[5] != x[37]) {
			t.Errorf("gray image pixel 5 = %v %v %v, want 80/255 in every channel", x[5], x[21], x[37])
		}
	}

	// Grayscale, resize, crop and normalisation.
	ds, err = LoadImageFolder(root, ImageOptions{Gray: true, Resize: 8, CenterCrop: 6, Norm: Normalize{Mean: []float32{0.5}, Std: []float32{0.25}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := ds.Shape(); s[0] != 1 || s[1] != 6 || s[2] != 6 {
		t.Fatalf("shape %v", s)
	}
	x = make([]float32, 36)
	for i := range ds.Len() {
		ds.Example(i, x)
		if filepath.Base(ds.Path(i)) == "a.png" {
			// PIL luma of pure red is 76; resizing a solid image keeps it.
			want := (76.0/255 - 0.5) / 0.25
			for _, v := range x {
				if math.Abs(float64(v)-want) > 1e-4 {
					t.Fatalf("red as gray: %v, want %v", v, want)
				}
			}
		}
	}
	// A crop larger than the image pads with black: (0 - mean)/std.
	ds, _ = LoadImageFolder(root, ImageOptions{CenterCrop: 6, Norm: ImageNetNormalize})
	x = make([]float32, 3*36)
	for i := range ds.Len() {
		if filepath.Base(ds.Path(i)) == "a.png" {
			ds.Example(i, x)
			pad := float32(-0.485 / 0.229)
			red := float32((1 - 0.485) / 0.229)
			if math.Abs(float64(x[0]-pad)) > 1e-5 || math.Abs(float64(x[7]-red)) > 1e-5 || math.Abs(float64(x[35]-pad)) > 1e-5 {
				t.Fatalf("padded crop: %v", x[:36])
			}
		}
	}
}

func TestImageFolderErrors(t *testing.T) {
	mk := func(setup func(root string)) string {
		root := t.TempDir()
		setup(root)
		return root
	}
	good := solid(4, 4, color.NRGBA{1, 2, 3, 255})
	cases := []struct {
		name  string
		root  string
		opt   ImageOptions
		want  string
		named string
	}{
		{"corrupt", mk(func(r string) {
			savePNG(t, filepath.Join(r, "a", "ok.png"), good)
			os.WriteFile(filepath.Join(r, "a", "bad.png"), []byte("\x89PNG\r\n\x1a\nnope"), 0o644)
		}), ImageOptions{}, "not a readable PNG or JPEG", "bad.png"},
		{"empty class", mk(func(r string) {
			savePNG(t, filepath.Join(r, "a", "ok.png"), good)
			os.MkdirAll(filepath.Join(r, "b"), 0o755)
		}), ImageOptions{}, "has no .png", "b"},
		{"no classes", mk(func(r string) {}), ImageOptions{}, "no class folders", ""},
		{"mixed sizes", mk(func(r string) {
			savePNG(t, filepath.Join(r, "a", "1.png"), good)
			savePNG(t, filepath.Join(r, "a", "2.png"), solid(5, 4, color.NRGBA{}))
		}), ImageOptions{}, "set CenterCrop", "2.png"},
		{"too many pixels", mk(func(r string) {
			savePNG(t, filepath.Join(r, "a", "big.png"), solid(100, 100, color.NRGBA{}))
		}), ImageOptions{MaxPixels: 5000}, "over the limit", "big.png"},
		{"bad norm", mk(func(r string) { savePNG(t, filepath.Join(r, "a", "1.png"), good) }),
			ImageOptions{Norm: Normalize{Mean: []float32{1, 2}}}, "2 entries for 3 channels", ""},
	}
	for _, c := range cases {
		_, err := LoadImageFolder(c.root, c.opt)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.named) {
			t.Errorf("%s: err = %v, want %q naming %q", c.name, err, c.want, c.named)
		}
	}
	// Corrupt pixel data behind a valid header is found by Example.
	root := t.TempDir()
	p := filepath.Join(root, "a", "trunc.png")
	savePNG(t, p, solid(64, 64, color.NRGBA{9, 9, 9, 255}))
	ds, err := LoadImageFolder(root, ImageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	os.WriteFile(p, b[:60], 0o644)
	if _, err := ds.Example(0, make([]float32, 3*64*64)); err == nil || !strings.Contains(err.Error(), p) {
		t.Fatalf("truncated image: err = %v", err)
	}
}

func TestResizedSizeAndCrop(t *testing.T) {
	for _, c := range []struct{ w, h, size, ow, oh int }{
		{500, 375, 256, 341, 256}, {375, 500, 256, 256, 341}, {10, 10, 3, 3, 3}, {7, 3, 0, 7, 3},
	} {
		if ow, oh := resizedSize(c.w, c.h, c.size); ow != c.ow || oh != c.oh {
			t.Errorf("resize %dx%d to %d: %dx%d, want %dx%d", c.w, c.h, c.size, ow, oh, c.ow, c.oh)
		}
	}
	// torchvision: int(round((in - out) / 2.0)), Python rounding half to even.
	for _, c := range [][3]int{{256, 224, 16}, {5, 4, 0}, {7, 4, 2}, {341, 224, 58}, {4, 6, -1}, {4, 7, -1}} {
		if got := cropOffset(c[0], c[1]); got != c[2] {
			t.Errorf("cropOffset(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

// The resampler matches PIL's bilinear resize to within PIL's own 8-bit
// rounding.
func TestResizeMatchesPIL(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import PIL.Image").Run(); err != nil {
		t.Skip("skipping: /usr/bin/python3 with PIL not available")
	}
	dir := t.TempDir()
	src := image.NewGray(image.Rect(0, 0, 37, 23))
	for i := range src.Pix {
		src.Pix[i] = uint8((i*97 + i*i) % 256)
	}
	p := filepath.Join(dir, "s.png")
	savePNG(t, p, src)
	for _, sz := range [][2]int{{16, 10}, {80, 50}, {37, 9}, {5, 23}} {
		out, err := exec.Command(py, "-c", `
import sys
from PIL import Image
im = Image.open(sys.argv[1]).resize((int(sys.argv[2]), int(sys.argv[3])), Image.BILINEAR)
print(' '.join(str(v) for v in im.getdata()))
`, p, strconv.Itoa(sz[0]), strconv.Itoa(sz[1])).Output()
		if err != nil {
			t.Fatal(err)
		}
		fields := strings.Fields(string(out))
		planes := toPlanes(src, 1)
		got := resizePlanes(planes, 1, 37, 23, sz[0], sz[1])
		if len(fields) != len(got) {
			t.Fatalf("%v: PIL gave %d values, we %d", sz, len(fields), len(got))
		}
		worst := 0.0
		for i, f := range fields {
			v, _ := strconv.Atoi(f)
			worst = max(worst, math.Abs(float64(got[i])-float64(v)))
		}
		t.Logf("resize to %v: max difference from PIL %.3f", sz, worst)
		if worst > 1.0 {
			t.Errorf("resize to %v: max difference from PIL %.2f (of 255)", sz, worst)
		}
	}
}

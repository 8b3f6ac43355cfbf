package data

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // register the JPEG decoder
	_ "image/png"  // register the PNG decoder
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DefaultMaxPixels caps the width×height of one image (a decompression-bomb
// guard checked from the image header before decoding).
const DefaultMaxPixels = 1 << 26

// ImageOptions says how LoadImageFolder turns images into tensors. The steps
// follow torchvision's Resize, CenterCrop, ToTensor and Normalize.
type ImageOptions struct {
	// Resize scales the shorter side to this many pixels, keeping the
	// aspect ratio (long side truncated, as torchvision does), with an
	// antialiased bilinear filter like PIL's. 0 keeps the size.
	Resize int
	// CenterCrop cuts a CenterCrop×CenterCrop square from the centre,
	// padding with black where the image is smaller. 0 does not crop; then
	// every image must come out at the same size.
	CenterCrop int
	// Gray gives one channel (PIL's "L" luma) instead of three (RGB).
	Gray bool
	// Norm normalises each channel; the zero value only scales to [0, 1].
	Norm Normalize
	// MaxPixels caps width×height of a source image; 0 means
	// DefaultMaxPixels.
	MaxPixels int
	// MaxFileBytes caps the size of an image file; 0 means 256 MiB.
	MaxFileBytes int64
}

// ImageFolder is a data set of image files laid out one folder per class:
// root/<class>/**/*.png|.jpg|.jpeg. Classes are the sorted folder names.
// Images are decoded lazily, in Example.
type ImageFolder struct {
	files   []string
	labels  []int
	classes []string
	opt     ImageOptions
	c, h, w int
	shape   []int
	a, b    []float32
}

var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

// LoadImageFolder scans root and checks every image's header (format and
// size); pixel data is decoded by Example. Files with other extensions and
// hidden files are skipped; a class folder without images is an error.
func LoadImageFolder(root string, opt ImageOptions) (*ImageFolder, error) {
	if opt.Resize < 0 || opt.CenterCrop < 0 || opt.MaxPixels < 0 || opt.MaxFileBytes < 0 {
		return nil, fmt.Errorf("data: negative image option in %+v", opt)
	}
	if opt.MaxPixels == 0 {
		opt.MaxPixels = DefaultMaxPixels
	}
	if opt.MaxFileBytes == 0 {
		opt.MaxFileBytes = 256 << 20
	}
	f := &ImageFolder{opt: opt, c: 3}
	if opt.Gray {
		f.c = 1
	}
	var err error
	if f.a, f.b, err = opt.Norm.affine(f.c); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	for _, e := range ents { // ReadDir sorts by name
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if !e.IsDir() {
			// A symbolic link to a folder is a class folder too.
			if st, err := os.Stat(filepath.Join(root, e.Name())); e.Type()&fs.ModeSymlink == 0 || err != nil || !st.IsDir() {
				continue
			}
		}
		if len(f.classes) >= MaxClasses {
			return nil, fmt.Errorf("data: %s: more than %d class folders", root, MaxClasses)
		}
		label := len(f.classes)
		f.classes = append(f.classes, e.Name())
		dir := filepath.Join(root, e.Name())
		count := 0
		// The trailing separator makes WalkDir follow a linked class folder.
		err := filepath.WalkDir(dir+string(filepath.Separator), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if strings.HasPrefix(d.Name(), ".") && filepath.Clean(p) != dir {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !imageExts[strings.ToLower(filepath.Ext(p))] {
				return nil
			}
			f.files = append(f.files, p)
			f.labels = append(f.labels, label)
			count++
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if count == 0 {
			return nil, fmt.Errorf("data: class folder %s has no .png, .jpg or .jpeg files", dir)
		}
	}
	if len(f.classes) == 0 {
		return nil, fmt.Errorf("data: %s has no class folders", root)
	}
	for i, p := range f.files {
		w, h, err := f.config(p, nil)
		if err != nil {
			return nil, err
		}
		oh, ow := f.outSize(w, h)
		if i == 0 {
			f.h, f.w = oh, ow
		} else if oh != f.h || ow != f.w {
			return nil, fmt.Errorf("data: %s: comes out at %dx%d pixels but %s at %dx%d; set CenterCrop to get one size",
				p, ow, oh, f.files[0], f.w, f.h)
		}
	}
	f.shape = []int{f.c, f.h, f.w}
	return f, nil
}

// config reads the header of image p (from b when not nil) and checks its
// size against the limits.
func (f *ImageFolder) config(p string, b []byte) (w, h int, err error) {
	var cfg image.Config
	if b == nil {
		// Stat before opening: opening a FIFO would block.
		st, err := os.Stat(p)
		if err != nil {
			return 0, 0, fmt.Errorf("data: %w", err)
		}
		if !st.Mode().IsRegular() {
			return 0, 0, fmt.Errorf("data: %s: not a regular file", p)
		}
		if st.Size() > f.opt.MaxFileBytes {
			return 0, 0, fmt.Errorf("data: %s: %d bytes exceed the limit of %d", p, st.Size(), f.opt.MaxFileBytes)
		}
		file, err := os.Open(p)
		if err != nil {
			return 0, 0, fmt.Errorf("data: %w", err)
		}
		defer file.Close()
		cfg, _, err = image.DecodeConfig(file)
		if err != nil {
			return 0, 0, fmt.Errorf("data: %s: not a readable PNG or JPEG image: %v", p, err)
		}
	} else {
		cfg, _, err = image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return 0, 0, fmt.Errorf("data: %s: not a readable PNG or JPEG image: %v", p, err)
		}
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > f.opt.MaxPixels/cfg.Height {
		return 0, 0, fmt.Errorf("data: %s: image of %dx%d pixels is empty or over the limit of %d pixels", p, cfg.Width, cfg.Height, f.opt.MaxPixels)
	}
	return cfg.Width, cfg.Height, nil
}

// outSize is the output height and width for a w×h image.
func (f *ImageFolder) outSize(w, h int) (int, int) {
	if f.opt.CenterCrop > 0 {
		return f.opt.CenterCrop, f.opt.CenterCrop
	}
	rw, rh := resizedSize(w, h, f.opt.Resize)
	return rh, rw
}

// resizedSize is torchvision's Resize(size) output for a w×h image.
func resizedSize(w, h, size int) (int, int) {
	if size == 0 {
		return w, h
	}
	if w <= h {
		return size, int(int64(size) * int64(h) / int64(w))
	}
	return int(int64(size) * int64(w) / int64(h)), size
}

func (f *ImageFolder) Len() int     { return len(f.files) }
func (f *ImageFolder) Shape() []int { return f.shape }
func (f *ImageFolder) Classes() int { return len(f.classes) }

// ClassNames returns the class folder names; label i is ClassNames()[i].
func (f *ImageFolder) ClassNames() []string { return slices.Clone(f.classes) }

// Path returns the file of example i.
func (f *ImageFolder) Path(i int) string { return f.files[i] }

// Example decodes image i into dst as CHW float32.
func (f *ImageFolder) Example(i int, dst []float32) (int, error) {
	if err := checkExample(f, i, dst); err != nil {
		return 0, err
	}
	p := f.files[i]
	st, err := os.Stat(p)
	if err != nil {
		return 0, fmt.Errorf("data: %w", err)
	}
	if !st.Mode().IsRegular() {
		return 0, fmt.Errorf("data: %s: not a regular file", p)
	}
	if st.Size() > f.opt.MaxFileBytes {
		return 0, fmt.Errorf("data: %s: %d bytes exceed the limit of %d", p, st.Size(), f.opt.MaxFileBytes)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, fmt.Errorf("data: %w", err)
	}
	w, h, err := f.config(p, b)
	if err != nil {
		return 0, err
	}
	if oh, ow := f.outSize(w, h); oh != f.h || ow != f.w {
		return 0, fmt.Errorf("data: %s: changed since it was scanned (now %dx%d pixels)", p, w, h)
	}
	img, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		return 0, fmt.Errorf("data: %s: corrupt image: %v", p, err)
	}
	planes := toPlanes(img, f.c)
	rw, rh := resizedSize(w, h, f.opt.Resize)
	if rw != w || rh != h {
		planes = resizePlanes(planes, f.c, w, h, rw, rh)
	}
	// Centre crop (or copy) with padding, then normalise.
	offY, offX := cropOffset(rh, f.h), cropOffset(rw, f.w)
	for c := range f.c {
		src := planes[c*rw*rh : (c+1)*rw*rh]
		out := dst[c*f.h*f.w : (c+1)*f.h*f.w]
		a, bb := f.a[c], f.b[c]
		for y := range f.h {
			sy := y + offY
			row := out[y*f.w : (y+1)*f.w]
			for x := range row {
				sx := x + offX
				v := float32(0)
				if sy >= 0 && sy < rh && sx >= 0 && sx < rw {
					v = src[sy*rw+sx]
				}
				row[x] = v*a + bb
			}
		}
	}
	return f.labels[i], nil
}

// cropOffset is where a centre crop of size out starts in a side of size
// in, as torchvision computes it (negative: padding).
func cropOffset(in, out int) int {
	if out <= in {
		return int(math.RoundToEven(float64(in-out) / 2))
	}
	return -((out - in) / 2)
}

// toPlanes converts img to channels planes of float32 values 0..255 (RGB,
// alpha dropped, or PIL's integer luma for one channel).
func toPlanes(img image.Image, channels int) []float32 {
	r := img.Bounds()
	w, h := r.Dx(), r.Dy()
	out := make([]float32, channels*w*h)
	put := func(x, y int, R, G, B uint8) {
		i := y*w + x
		if channels == 1 {
			out[i] = float32((uint32(R)*19595 + uint32(G)*38470 + uint32(B)*7471 + 0x8000) >> 16)
			return
		}
		out[i], out[w*h+i], out[2*w*h+i] = float32(R), float32(G), float32(B)
	}
	switch m := img.(type) {
	case *image.Gray:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+w]
			for x, v := range row {
				put(x, y, v, v, v)
			}
		}
	case *image.YCbCr:
		for y := range h {
			for x := range w {
				c := m.YCbCrAt(r.Min.X+x, r.Min.Y+y)
				R, G, B := color.YCbCrToRGB(c.Y, c.Cb, c.Cr)
				put(x, y, R, G, B)
			}
		}
	case *image.NRGBA:
		for y := range h {
			row := m.Pix[y*m.Stride : y*m.Stride+4*w]
			for x := range w {
				put(x, y, row[4*x], row[4*x+1], row[4*x+2])
			}
		}
	default:
		for y := range h {
			for x := range w {
				c := color.NRGBAModel.Convert(img.At(r.Min.X+x, r.Min.Y+y)).(color.NRGBA)
				put(x, y, c.R, c.G, c.B)
			}
		}
	}
	return out
}

// resizePlanes resamples each w×h plane to ow×oh with PIL's antialiased
// bilinear filter, horizontally then vertically.
func resizePlanes(src []float32, channels, w, h, ow, oh int) []float32 {
	hx := filterTaps(w, ow)
	hy := filterTaps(h, oh)
	tmp := make([]float32, h*ow)
	out := make([]float32, channels*ow*oh)
	for c := range channels {
		in := src[c*w*h : (c+1)*w*h]
		for y := range h {
			row := in[y*w : (y+1)*w]
			for x, t := range hx {
				var s float32
				for k, wt := range t.w {
					s += row[t.start+k] * wt
				}
				tmp[y*ow+x] = s
			}
		}
		o := out[c*ow*oh : (c+1)*ow*oh]
		for y, t := range hy {
			orow := o[y*ow : (y+1)*ow]
			for k, wt := range t.w {
				irow := tmp[(t.start+k)*ow : (t.start+k+1)*ow]
				for x := range orow {
					orow[x] += irow[x] * wt
				}
			}
		}
	}
	return out
}

type taps struct {
	start int
	w     []float32
}

// filterTaps computes PIL's bilinear resampling coefficients
// (precompute_coeffs with a triangle filter of support 1, widened by the
// scale when shrinking).
func filterTaps(in, out int) []taps {
	scale := float64(in) / float64(out)
	fs := max(scale, 1)
	support := fs
	res := make([]taps, out)
	for x := range res {
		center := (float64(x) + 0.5) * scale
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		ws := make([]float32, 0, hi-lo)
		var total float64
		wf := make([]float64, 0, hi-lo)
		for j := lo; j < hi; j++ {
			v := 1 - math.Abs((float64(j)-center+0.5)/fs)
			if v < 0 {
				v = 0
			}
			wf = append(wf, v)
			total += v
		}
		for _, v := range wf {
			if total != 0 {
				v /= total
			}
			ws = append(ws, float32(v))
		}
		res[x] = taps{start: lo, w: ws}
	}
	return res
}

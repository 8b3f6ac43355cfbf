// Package data owns Poda's data sets for evaluation and fine-tuning: the
// Dataset interface, the loaders that build data sets from MNIST idx files,
// folders of images and NumPy arrays, train/test splits, and Loader, the
// batch iterator that prefetches batches on a goroutine and can be
// checkpointed and resumed exactly.
//
// A Dataset is random access: Example copies one example, as float32 in
// its per-example Shape (for images, CHW), into a caller-owned buffer and
// returns its class label, so the batch loop does not allocate. Every loader
// validates its input files strictly and names the file and the rule broken
// in its errors; sizes read from files are checked against the file size and
// limits before anything is allocated.
package data

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"

	"github.com/podaml/poda/tensor"
)

// Dataset is a random-access labelled data set.
type Dataset interface {
	// Len is the number of examples.
	Len() int
	// Shape is the shape of one example, e.g. [1 28 28]; do not modify it.
	Shape() []int
	// Classes is the number of classes; labels are in [0, Classes()).
	Classes() int
	// Example copies example i into dst, which must have exactly
	// tensor.Prod(Shape()) elements, and returns its label. Datasets that
	// read files lazily return errors naming the file.
	Example(i int, dst []float32) (label int, err error)
}

// MaxClasses caps the number of classes a loader infers from labels.
const MaxClasses = 1 << 20

// checkExample validates the arguments of Example.
func checkExample(ds Dataset, i int, dst []float32) error {
	if i < 0 || i >= ds.Len() {
		return fmt.Errorf("data: example index %d out of range [0, %d)", i, ds.Len())
	}
	if n := tensor.Prod(ds.Shape()); len(dst) != n {
		return fmt.Errorf("data: destination has %d elements, an example of shape %v has %d", len(dst), ds.Shape(), n)
	}
	return nil
}

// Normalize maps a pixel value p in 0..255 of channel c to
// (p/255 - Mean[c]) / Std[c]. Mean and Std each have one entry per channel
// or a single entry shared by all channels; an empty Mean means 0 and an
// empty Std means 1. The zero value therefore only scales to [0, 1], except
// for LoadMNIST, where it means MNISTNormalize.
type Normalize struct {
	Mean, Std []float32
}

// MNISTNormalize is the usual MNIST normalisation (mean 0.1307, std 0.3081).
var MNISTNormalize = Normalize{Mean: []float32{0.1307}, Std: []float32{0.3081}}

// ImageNetNormalize is the usual ImageNet per-channel RGB normalisation.
var ImageNetNormalize = Normalize{Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}

// ScaleOnly maps pixels to [0, 1] and nothing more.
var ScaleOnly = Normalize{Mean: []float32{0}, Std: []float32{1}}

// affine returns per-channel a, b with value = p*a + b for p in 0..255.
func (n Normalize) affine(channels int) (a, b []float32, err error) {
	pick := func(v []float32, def float32, what string) ([]float32, error) {
		out := make([]float32, channels)
		switch len(v) {
		case 0:
			for i := range out {
				out[i] = def
			}
		case 1:
			for i := range out {
				out[i] = v[0]
			}
		case channels:
			copy(out, v)
		default:
			return nil, fmt.Errorf("data: normalize %s has %d entries for %d channels", what, len(v), channels)
		}
		return out, nil
	}
	mean, err := pick(n.Mean, 0, "mean")
	if err != nil {
		return nil, nil, err
	}
	std, err := pick(n.Std, 1, "std")
	if err != nil {
		return nil, nil, err
	}
	a, b = make([]float32, channels), make([]float32, channels)
	for c := range channels {
		if !(std[c] > 0) {
			return nil, nil, fmt.Errorf("data: normalize std[%d] = %v, must be positive", c, std[c])
		}
		a[c] = 1 / (255 * std[c])
		b[c] = -mean[c] / std[c]
	}
	return a, b, nil
}

// Memory is an in-memory data set: row-major examples in X and labels in Y.
type Memory struct {
	X       []float32
	Y       []int
	shape   []int
	numel   int
	classes int
}

// NewMemory wraps x (len(y) examples of the given shape, not copied) and
// labels y. classes ≤ 0 means max(y)+1. Labels must be in [0, classes).
func NewMemory(x []float32, y []int, shape []int, classes int) (*Memory, error) {
	dims := make([]int64, len(shape))
	for i, d := range shape {
		dims[i] = int64(d)
	}
	numel, err := tensor.Numel(dims)
	if err != nil {
		return nil, fmt.Errorf("data: example shape %v: %w", shape, err)
	}
	if hi, lo := bits.Mul64(uint64(numel), uint64(len(y))); hi != 0 || lo != uint64(len(x)) {
		return nil, fmt.Errorf("data: %d inputs of shape %v need %d values, have %d", len(y), shape, uint64(numel)*uint64(len(y)), len(x))
	}
	if classes, err = checkLabels(y, classes); err != nil {
		return nil, err
	}
	return &Memory{X: x, Y: y, shape: slices.Clone(shape), numel: int(numel), classes: classes}, nil
}

// checkLabels checks labels against classes, inferring classes when ≤ 0.
func checkLabels(y []int, classes int) (int, error) {
	if classes > MaxClasses {
		return 0, fmt.Errorf("data: %d classes exceed the limit of %d", classes, MaxClasses)
	}
	infer := classes <= 0
	for i, l := range y {
		if l < 0 {
			return 0, fmt.Errorf("data: label %d of example %d is negative", l, i)
		}
		if infer {
			if l >= MaxClasses {
				return 0, fmt.Errorf("data: label %d of example %d exceeds the class limit %d", l, i, MaxClasses)
			}
			classes = max(classes, l+1)
		} else if l >= classes {
			return 0, fmt.Errorf("data: label %d of example %d is not below the class count %d", l, i, classes)
		}
	}
	return max(classes, 0), nil
}

func (m *Memory) Len() int     { return len(m.Y) }
func (m *Memory) Shape() []int { return m.shape }
func (m *Memory) Classes() int { return m.classes }
func (m *Memory) Example(i int, dst []float32) (int, error) {
	if i < 0 || i >= len(m.Y) || len(dst) != m.numel {
		return 0, checkExample(m, i, dst)
	}
	copy(dst, m.X[i*m.numel:(i+1)*m.numel])
	return m.Y[i], nil
}

// Materialize reads every example of ds into memory, which also validates
// every example of a lazily loaded data set.
func Materialize(ds Dataset) (*Memory, error) {
	n, numel := ds.Len(), tensor.Prod(ds.Shape())
	x := make([]float32, n*numel)
	y := make([]int, n)
	for i := range n {
		l, err := ds.Example(i, x[i*numel:(i+1)*numel])
		if err != nil {
			return nil, err
		}
		y[i] = l
	}
	return NewMemory(x, y, ds.Shape(), ds.Classes())
}

// Subset is a view of some examples of a data set, in a given order.
type Subset struct {
	ds  Dataset
	idx []int
}

// NewSubset returns the view of ds holding examples idx (not copied).
func NewSubset(ds Dataset, idx []int) (*Subset, error) {
	for _, i := range idx {
		if i < 0 || i >= ds.Len() {
			return nil, fmt.Errorf("data: subset index %d out of range [0, %d)", i, ds.Len())
		}
	}
	return &Subset{ds: ds, idx: idx}, nil
}

func (s *Subset) Len() int       { return len(s.idx) }
func (s *Subset) Shape() []int   { return s.ds.Shape() }
func (s *Subset) Classes() int   { return s.ds.Classes() }
func (s *Subset) Indices() []int { return s.idx }
func (s *Subset) Example(i int, dst []float32) (int, error) {
	if i < 0 || i >= len(s.idx) {
		return 0, checkExample(s, i, dst)
	}
	return s.ds.Example(s.idx[i], dst)
}

// Split shuffles the indices of ds with seed and returns a train and a test
// view, the test view holding round(testFrac·Len) examples. Each view keeps
// its examples in ascending index order. The same seed gives the same split.
func Split(ds Dataset, testFrac float64, seed uint64) (train, test *Subset, err error) {
	if !(testFrac >= 0 && testFrac <= 1) {
		return nil, nil, fmt.Errorf("data: test fraction %v not in [0, 1]", testFrac)
	}
	n := ds.Len()
	perm := make([]int, n)
	var rng rand.PCG
	permute(perm, &rng, seed, splitStream)
	nt := int(testFrac*float64(n) + 0.5)
	te, tr := slices.Clone(perm[:nt]), slices.Clone(perm[nt:])
	slices.Sort(te)
	slices.Sort(tr)
	return &Subset{ds, tr}, &Subset{ds, te}, nil
}

// splitStream is the PCG stream Split uses, apart from the epoch streams.
const splitStream = 1<<64 - 1

// permute fills perm with a permutation drawn from PCG(seed, stream) by a
// Fisher–Yates shuffle with Lemire's unbiased bounded draw. It is written
// out here (not rand.Shuffle) so orders stay the same across Go releases.
func permute(perm []int, rng *rand.PCG, seed, stream uint64) {
	for i := range perm {
		perm[i] = i
	}
	rng.Seed(seed, stream)
	for i := len(perm) - 1; i > 0; i-- {
		j := bounded(rng, uint64(i+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
}

func bounded(r *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(r.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(r.Uint64(), n)
		}
	}
	return hi
}

var errClosed = errors.New("data: loader is closed")

package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/podaml/poda/data"
	"github.com/podaml/poda/tensor"
)

// dataFlags select a labelled data set on the command line.
type dataFlags struct {
	spec   string
	split  string
	resize int
	crop   int
	gray   bool
	mean   string
	std    string
	limit  int
}

func (d *dataFlags) register(fs *flag.FlagSet, defaultSplit string) {
	fs.StringVar(&d.spec, "data", "", "data `SET`: mnist, folder:DIR (one subfolder per class), npz:FILE (arrays x, y)")
	fs.StringVar(&d.split, "split", defaultSplit, "`train|test` part of the data set")
	fs.IntVar(&d.resize, "resize", 0, "image folders: scale the shorter side to `N` pixels")
	fs.IntVar(&d.crop, "crop", 0, "image folders: centre crop to `N`×N")
	fs.BoolVar(&d.gray, "gray", false, "image folders: one gray channel instead of RGB")
	fs.StringVar(&d.mean, "mean", "", "image folders: per-channel `MEANS` to subtract, e.g. 0.485,0.456,0.406")
	fs.StringVar(&d.std, "std", "", "image folders: per-channel `STDS` to divide by, e.g. 0.229,0.224,0.225")
	fs.IntVar(&d.limit, "limit", 0, "use only the first `N` examples (0: all)")
}

// open loads the selected split. Image folders and arrays have no split of
// their own: split "test" takes a seeded 20% of them and "train" the rest.
func (d *dataFlags) open(split string) (data.Dataset, error) {
	if split == "" {
		split = d.split
	}
	if split != "train" && split != "test" {
		return nil, usagef("--split %q: want train or test", split)
	}
	kind, arg, _ := strings.Cut(d.spec, ":")
	var ds data.Dataset
	var err error
	switch kind {
	case "":
		return nil, usagef("--data is required (for example --data mnist)")
	case "mnist":
		ds, err = data.LoadMNIST(arg, split, data.Normalize{})
		if err != nil {
			return nil, err
		}
		return d.limited(ds)
	case "folder":
		opt := data.ImageOptions{Resize: d.resize, CenterCrop: d.crop, Gray: d.gray}
		if opt.Norm.Mean, err = floats(d.mean); err != nil {
			return nil, usagef("--mean: %v", err)
		}
		if opt.Norm.Std, err = floats(d.std); err != nil {
			return nil, usagef("--std: %v", err)
		}
		ds, err = data.LoadImageFolder(arg, opt)
	case "npz":
		ds, err = data.LoadNPZ(arg, "x", "y")
	default:
		return nil, usagef("--data %q: want mnist, folder:DIR or npz:FILE", d.spec)
	}
	if err != nil {
		return nil, err
	}
	train, test, err := data.Split(ds, 0.2, 1)
	if err != nil {
		return nil, err
	}
	if split == "test" {
		return d.limited(test)
	}
	return d.limited(train)
}

func (d *dataFlags) limited(ds data.Dataset) (data.Dataset, error) {
	if d.limit <= 0 || d.limit >= ds.Len() {
		return ds, nil
	}
	idx := make([]int, d.limit)
	for i := range idx {
		idx[i] = i
	}
	return data.NewSubset(ds, idx)
}

func floats(s string) ([]float32, error) {
	if s == "" {
		return nil, nil
	}
	var out []float32
	for _, p := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 32)
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", p)
		}
		out = append(out, float32(v))
	}
	return out, nil
}

// calibrationBatch stacks the first n examples of ds into one batch.
func calibrationBatch(ds data.Dataset, n int) (*tensor.Tensor, error) {
	n = min(n, ds.Len())
	shape := append([]int{n}, ds.Shape()...)
	x := tensor.New(shape...)
	per := tensor.Prod(ds.Shape())
	for i := 0; i < n; i++ {
		if _, err := ds.Example(i, x.F32[i*per:(i+1)*per]); err != nil {
			return nil, err
		}
	}
	return x, nil
}

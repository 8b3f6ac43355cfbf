package onnx

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/podaml/poda/onnx/pb"
)

// externalRef is a parsed, checked external_data entry.
type externalRef struct {
	location       string
	offset, length int64
}

// externalKeys are the keys ONNX defines for external_data.
var externalKeys = map[string]bool{"location": true, "offset": true, "length": true, "checksum": true}

// externalInfo parses a tensor's external_data entries and checks them
// against the rules of ONNX's ExternalData.md and the security checklist:
// known keys only, no duplicates, a relative location that stays inside the
// model's folder, decimal non-negative offset and length, and a length that
// equals the tensor's byte size.
func (c *checker) externalInfo(where string, t *pb.TensorProto, size int64) (externalRef, error) {
	ref := externalRef{offset: 0, length: -1}
	seen := map[string]bool{}
	for _, e := range t.ExternalData {
		k, v := e.GetKey(), e.GetValue()
		if !externalKeys[k] {
			return ref, c.errf(where, "external_data has unknown key %q", k)
		}
		if seen[k] {
			return ref, c.errf(where, "external_data key %q appears twice", k)
		}
		seen[k] = true
		switch k {
		case "location":
			if err := checkLocation(v); err != nil {
				return ref, c.errf(where, "external_data location %q: %v", v, err)
			}
			ref.location = v
		case "offset", "length":
			n, err := parseSize(v)
			if err != nil {
				return ref, c.errf(where, "external_data %s %q: %v", k, v, err)
			}
			if k == "offset" {
				ref.offset = n
			} else {
				ref.length = n
			}
		}
	}
	if !seen["location"] {
		return ref, c.errf(where, "external_data has no location")
	}
	if ref.length < 0 {
		ref.length = size
	}
	if ref.length != size {
		return ref, c.errf(where, "external_data length %d does not match the tensor's %d bytes", ref.length, size)
	}
	if ref.offset > (1<<63-1)-ref.length {
		return ref, c.errf(where, "external_data offset %d + length %d overflows", ref.offset, ref.length)
	}
	return ref, nil
}

// checkLocation enforces that an external data location is a plain relative
// path inside the model's folder.
func checkLocation(loc string) error {
	switch {
	case loc == "":
		return errors.New("is empty")
	case strings.ContainsRune(loc, 0):
		return errors.New("contains a NUL byte")
	case strings.Contains(loc, `\`):
		return errors.New("contains a backslash")
	case strings.HasPrefix(loc, "/"):
		return errors.New("is absolute")
	case len(loc) >= 2 && loc[1] == ':':
		return errors.New("starts with a drive letter")
	}
	for _, part := range strings.Split(loc, "/") {
		if part == ".." {
			return errors.New("contains '..'")
		}
	}
	if path.Clean(loc) == "." {
		return errors.New("names the model's folder itself")
	}
	return nil
}

func parseSize(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("is empty")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, errors.New("is not a non-negative decimal integer")
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("does not fit in int64")
	}
	return n, nil
}

// loadExternal reads every externally stored tensor of m from dir into
// raw_data, then validates the model again with all data inline. It returns
// the data files it read.
func loadExternal(c *checker, m *pb.ModelProto, dir string) ([]string, error) {
	var ext []*pb.TensorProto
	var wheres []string
	forEachTensor(m, func(where string, t *pb.TensorProto) bool {
		if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
			ext = append(ext, t)
			wheres = append(wheres, where)
		}
		return true
	})
	if len(ext) == 0 {
		return nil, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, &Error{File: c.file, Rule: "opening the model's folder for external data", Err: err}
	}
	defer root.Close()
	files := map[string]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	sizer := &checker{file: c.file, limits: c.limits}
	for i, t := range ext {
		where := wheres[i]
		_, size, err := sizer.tensorSize(where, t)
		if err != nil {
			return nil, err
		}
		ref, err := c.externalInfo(where, t, size)
		if err != nil {
			return nil, err
		}
		f := files[ref.location]
		if f == nil {
			f, err = openExternal(root, ref.location)
			if err != nil {
				return nil, &Error{File: c.file, Where: where, Rule: fmt.Sprintf("external data file %q", ref.location), Err: err}
			}
			files[ref.location] = f
		}
		fi, err := f.Stat()
		if err != nil {
			return nil, &Error{File: c.file, Where: where, Rule: "external data file", Err: err}
		}
		if ref.offset+ref.length > fi.Size() {
			return nil, c.errf(where, "external data [%d, %d) runs past the end of %q (%d bytes)", ref.offset, ref.offset+ref.length, ref.location, fi.Size())
		}
		buf := make([]byte, ref.length)
		if _, err := f.ReadAt(buf, ref.offset); err != nil && !(errors.Is(err, io.EOF) && ref.length == 0) {
			return nil, &Error{File: c.file, Where: where, Rule: fmt.Sprintf("reading external data from %q", ref.location), Err: err}
		}
		t.RawData = buf
		t.DataLocation = nil
		t.ExternalData = nil
	}
	// With every tensor inline, the full validation (sparse indices
	// included) runs once more.
	again := &checker{file: c.file, limits: c.limits}
	if err := again.model(m); err != nil {
		return nil, err
	}
	var out []string
	for loc := range files {
		out = append(out, filepath.Join(dir, filepath.FromSlash(loc)))
	}
	sort.Strings(out)
	return out, nil
}

// openExternal opens loc inside root, refusing symlinks in any component,
// non-regular files and files with more than one hard link.
func openExternal(root *os.Root, loc string) (*os.File, error) {
	parts := strings.Split(path.Clean(loc), "/")
	var last fs.FileInfo
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		fi, err := root.Lstat(p)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil, fmt.Errorf("%q is a symbolic link, which Poda refuses", p)
		}
		if i < len(parts)-1 && !fi.IsDir() {
			return nil, fmt.Errorf("%q is not a directory", p)
		}
		last = fi
	}
	// Checked before opening: opening a FIFO would block.
	if !last.Mode().IsRegular() {
		return nil, errors.New("is not a regular file")
	}
	f, err := root.OpenFile(loc, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	// The file opened must be the one checked, not one swapped in since.
	if !fi.Mode().IsRegular() || !os.SameFile(fi, last) {
		f.Close()
		return nil, errors.New("is not a regular file, or changed while being opened")
	}
	if n := linkCount(fi); n > 1 {
		f.Close()
		return nil, fmt.Errorf("has %d hard links, which Poda refuses", n)
	}
	return f, nil
}

package npy

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/podaml/poda/tensor"
)

// maxDeflateRatio bounds how much deflate can expand: 258 bytes per 2 bits
// in the best case, about 1032:1.
const maxDeflateRatio = 1032

// ReadNPZ reads every member of an .npz archive (stored or deflated) with
// DefaultLimits. It returns the arrays by name (the member name without
// ".npy") and the names in archive order.
func ReadNPZ(path string) (map[string]*tensor.Tensor, []string, error) {
	return DefaultLimits.ReadNPZ(path)
}

// ReadNPZ is ReadNPZ with these limits. Every member must be a .npy file
// named by a clean relative path; duplicate names, unknown compression
// methods, sizes that disagree with the archive, trailing bytes after a
// member's array and checksum errors are rejected.
func (l Limits) ReadNPZ(file string) (map[string]*tensor.Tensor, []string, error) {
	if err := regular(file); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	zr, err := zip.NewReader(f, size)
	if err != nil {
		return nil, nil, errf(file, "not a valid zip archive: %v", err)
	}
	if len(zr.File) > l.MaxEntries {
		return nil, nil, errf(file, "%d members exceed the limit of %d", len(zr.File), l.MaxEntries)
	}
	// Check every member's declared sizes before reading any.
	var total uint64
	for _, zf := range zr.File {
		if err := checkMember(zf, size); err != nil {
			return nil, nil, errf(file, "member %q: %v", zf.Name, err)
		}
		total += zf.UncompressedSize64
		if total > uint64(l.MaxBytes) {
			return nil, nil, errf(file, "total uncompressed size exceeds the limit of %d bytes", l.MaxBytes)
		}
	}
	out := make(map[string]*tensor.Tensor, len(zr.File))
	order := make([]string, 0, len(zr.File))
	for _, zf := range zr.File {
		name := strings.TrimSuffix(zf.Name, ".npy")
		if _, dup := out[name]; dup {
			return nil, nil, errf(file, "duplicate member %q", zf.Name)
		}
		t, err := l.readMember(zf)
		if err != nil {
			return nil, nil, errf(file, "member %q: %v", zf.Name, err)
		}
		out[name] = t
		order = append(order, name)
	}
	return out, order, nil
}

func checkMember(zf *zip.File, fileSize int64) error {
	if err := checkName(strings.TrimSuffix(zf.Name, ".npy")); err != nil || !strings.HasSuffix(zf.Name, ".npy") {
		if err == nil {
			err = errors.New("name does not end in .npy")
		}
		return err
	}
	off, err := zf.DataOffset()
	if err != nil {
		return err
	}
	if zf.CompressedSize64 > uint64(fileSize) || uint64(off) > uint64(fileSize)-zf.CompressedSize64 {
		return fmt.Errorf("compressed data (%d bytes at offset %d) runs past the end of the archive", zf.CompressedSize64, off)
	}
	switch zf.Method {
	case zip.Store:
		if zf.UncompressedSize64 != zf.CompressedSize64 {
			return fmt.Errorf("stored member has compressed size %d but uncompressed size %d", zf.CompressedSize64, zf.UncompressedSize64)
		}
	case zip.Deflate:
		if zf.UncompressedSize64/maxDeflateRatio > zf.CompressedSize64+1 {
			return fmt.Errorf("uncompressed size %d is impossible for %d deflated bytes", zf.UncompressedSize64, zf.CompressedSize64)
		}
	default:
		return fmt.Errorf("compression method %d is not supported (want stored or deflated)", zf.Method)
	}
	return nil
}

func (l Limits) readMember(zf *zip.File) (*tensor.Tensor, error) {
	rc, err := zf.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	size := int64(zf.UncompressedSize64)
	// Stored members are backed by file bytes (checked in checkMember); a
	// deflated member's size is only declared, so its buffer grows as data
	// is inflated.
	t, used, err := l.decode(rc, "", size, zf.Method == zip.Store)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, errors.New(e.Msg)
		}
		return nil, err
	}
	if used != size {
		return nil, fmt.Errorf("%d trailing bytes after the array data", size-used)
	}
	// Reading to EOF makes archive/zip verify the sizes and the CRC-32.
	var one [1]byte
	if n, err := io.ReadFull(rc, one[:]); n != 0 || err != io.EOF {
		if err == nil || err == io.ErrUnexpectedEOF {
			err = errors.New("more data than the declared size")
		}
		return nil, err
	}
	return t, nil
}

// checkName accepts array names that are clean, relative, slash-separated
// paths, so an archive is also safe to extract.
func checkName(name string) error {
	switch {
	case name == "":
		return errors.New("empty array name")
	case strings.ContainsAny(name, "\\:\x00"):
		return fmt.Errorf("array name %q contains '\\', ':' or NUL", name)
	case strings.HasPrefix(name, "/") || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../"):
		return fmt.Errorf("array name %q is not a clean relative path", name)
	}
	return nil
}

// zipTime is the fixed modification time of every member, for deterministic
// archives (the earliest time a zip can hold).
var zipTime = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteNPZ writes the arrays of m to path as an uncompressed .npz archive
// (like numpy.savez), one member "<name>.npy" per name, in the order of
// names, atomically. names must list every key of m exactly once.
func WriteNPZ(path string, names []string, m map[string]*tensor.Tensor) error {
	return writeNPZ(path, names, m, zip.Store)
}

// WriteNPZCompressed is WriteNPZ with deflated members (like
// numpy.savez_compressed).
func WriteNPZCompressed(path string, names []string, m map[string]*tensor.Tensor) error {
	return writeNPZ(path, names, m, zip.Deflate)
}

func writeNPZ(file string, names []string, m map[string]*tensor.Tensor, method uint16) error {
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if err := checkName(n); err != nil {
			return &Error{File: file, Msg: err.Error()}
		}
		if seen[n] {
			return errf(file, "array name %q listed twice", n)
		}
		seen[n] = true
		t, ok := m[n]
		if !ok {
			return errf(file, "array %q is listed but not in the map", n)
		}
		if _, err := check(t); err != nil {
			return errf(file, "array %q: %v", n, err)
		}
	}
	if len(m) != len(names) {
		for k := range m {
			if !seen[k] {
				return errf(file, "array %q is in the map but not listed in names", k)
			}
		}
	}
	return writeAtomic(file, func(w io.Writer) error {
		zw := zip.NewWriter(w)
		for _, n := range names {
			fw, err := zw.CreateHeader(&zip.FileHeader{Name: n + ".npy", Method: method, Modified: zipTime})
			if err != nil {
				return err
			}
			if err := Write(fw, m[n]); err != nil {
				return err
			}
		}
		return zw.Close()
	})
}

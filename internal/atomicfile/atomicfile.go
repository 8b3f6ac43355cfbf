// Package atomicfile writes files atomically: the bytes go to a temporary
// file in the destination's directory, which is fsynced and renamed into
// place, and the directory is fsynced. A reader never sees a half-written
// file, and a failed write leaves the old file untouched.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is an in-progress atomic write. Write to it, then Commit, or Abort
// to discard. Abort after Commit is a no-op, so `defer f.Abort()` is safe.
type File struct {
	*bufio.Writer
	tmp  *os.File
	path string
	done bool
}

// Create starts an atomic write of path with the given permissions.
func Create(path string, perm os.FileMode) (*File, error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("creating temporary file for %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, fmt.Errorf("setting permissions of %s: %w", tmp.Name(), err)
	}
	return &File{Writer: bufio.NewWriterSize(tmp, 1<<20), tmp: tmp, path: path}, nil
}

// Commit flushes, fsyncs and renames the temporary file into place, then
// fsyncs the directory.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("atomicfile: %s already committed or aborted", f.path)
	}
	if err := f.Flush(); err != nil {
		f.Abort()
		return fmt.Errorf("writing %s: %w", f.path, err)
	}
	if err := f.tmp.Sync(); err != nil {
		f.Abort()
		return fmt.Errorf("syncing %s: %w", f.path, err)
	}
	if err := f.tmp.Close(); err != nil {
		f.Abort()
		return fmt.Errorf("closing %s: %w", f.path, err)
	}
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		f.Abort()
		return fmt.Errorf("renaming into %s: %w", f.path, err)
	}
	f.done = true
	return syncDir(filepath.Dir(f.path))
}

// Abort discards the temporary file.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.tmp.Close()
	os.Remove(f.tmp.Name())
}

// WriteFile atomically replaces path with data.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write atomically replaces path with what fill writes.
func Write(path string, perm os.FileMode, fill func(w io.Writer) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := fill(f); err != nil {
		return err
	}
	return f.Commit()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("opening directory %s to sync it: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		// Some file systems do not support fsync on directories; the
		// rename has happened, so report nothing.
		return nil
	}
	return nil
}

// SameFile reports whether path names the same file as any of others that
// exist. It is how writers refuse to overwrite their inputs.
func SameFile(path string, others ...string) (string, bool) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", false
	}
	for _, o := range others {
		if oi, err := os.Stat(o); err == nil && os.SameFile(fi, oi) {
			return o, true
		}
	}
	return "", false
}

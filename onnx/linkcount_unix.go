//go:build unix

package onnx

import (
	"io/fs"
	"syscall"
)

// linkCount is the number of hard links to the file, or 0 if unknown.
func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 0
}

// openNonblock keeps opening a FIFO from blocking until a writer appears,
// so that the file type check after opening can refuse it.
const openNonblock = syscall.O_NONBLOCK

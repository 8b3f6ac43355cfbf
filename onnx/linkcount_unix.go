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

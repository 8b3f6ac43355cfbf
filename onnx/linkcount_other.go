//go:build !unix

package onnx

import "io/fs"

// linkCount is unknown on this system.
func linkCount(fs.FileInfo) uint64 { return 0 }

// openNonblock is not needed where there are no FIFOs to block on.
const openNonblock = 0

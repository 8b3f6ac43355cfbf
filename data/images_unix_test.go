//go:build unix

package data

import (
	"image/color"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO named like an image is refused, not opened (which would block).
func TestImageFolderFIFO(t *testing.T) {
	root := t.TempDir()
	savePNG(t, filepath.Join(root, "a", "ok.png"), solid(2, 2, color.NRGBA{}))
	if err := syscall.Mkfifo(filepath.Join(root, "a", "pipe.png"), 0o644); err != nil {
		t.Skipf("cannot make a FIFO: %v", err)
	}
	if _, err := LoadImageFolder(root, ImageOptions{}); err == nil || !strings.Contains(err.Error(), "pipe.png: not a regular file") {
		t.Errorf("fifo: err = %v", err)
	}
}

//go:build linux

package onnx

import (
	"bytes"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

// The data file is renamed into place before the model, so a reader never
// sees a model whose data is missing. inotify reports the renames in the
// order they happen.
func TestWriteRenamesDataFirst(t *testing.T) {
	dir := t.TempDir()
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	defer syscall.Close(fd)
	if _, err := syscall.InotifyAddWatch(fd, dir, syscall.IN_MOVED_TO); err != nil {
		t.Skipf("inotify: %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "m.onnx"), gemmModel(), WriteOptions{ExternalThreshold: 16}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	n, err := syscall.Read(fd, buf)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for off := 0; off+syscall.SizeofInotifyEvent <= n; {
		ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
		nameLen := int(ev.Len)
		name := buf[off+syscall.SizeofInotifyEvent : off+syscall.SizeofInotifyEvent+nameLen]
		names = append(names, string(bytes.TrimRight(name, "\x00")))
		off += syscall.SizeofInotifyEvent + nameLen
	}
	if len(names) != 2 || names[0] != "m.onnx.data" || names[1] != "m.onnx" {
		t.Errorf("renames in order %q, want the data file then the model", names)
	}
}

package onnx

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// File is a model read from disk, with the files it came from.
type File struct {
	Model     *pb.ModelProto
	Path      string   // the .onnx file as given
	DataFiles []string // external data files the model's tensors were read from
	Size      int64    // size of the .onnx file in bytes
}

// Sources lists every file the model was read from: writers refuse to
// overwrite any of them.
func (f *File) Sources() []string {
	return append([]string{f.Path}, f.DataFiles...)
}

// recursionLimit bounds protobuf message nesting while decoding. Each
// subgraph level costs a few messages (graph, node, attribute), and
// Limits.MaxDepth is then checked exactly by the validator.
const recursionLimit = 256

// ReadFile reads, decodes and validates the model at path, loading external
// data from beside it. The returned model holds every tensor inline.
func ReadFile(path string, lim Limits) (*File, error) {
	lim = lim.withDefaults()
	f, err := os.OpenFile(path, os.O_RDONLY|openNonblock, 0)
	if err != nil {
		return nil, &Error{File: path, Rule: "opening the model", Err: err}
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, &Error{File: path, Rule: "opening the model", Err: err}
	}
	if !fi.Mode().IsRegular() {
		return nil, &Error{File: path, Rule: "is not a regular file"}
	}
	if fi.Size() > lim.MaxProtoBytes {
		return nil, &Error{File: path, Rule: fmt.Sprintf("file is %d bytes, over the %d-byte limit for one protobuf", fi.Size(), lim.MaxProtoBytes)}
	}
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, &Error{File: path, Rule: "reading the file", Err: err}
	}
	m, err := decode(data, path, lim)
	if err != nil {
		return nil, err
	}
	c := &checker{file: path, limits: lim}
	files, err := loadExternal(c, m, filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	return &File{Model: m, Path: path, DataFiles: files, Size: fi.Size()}, nil
}

// Decode decodes and validates a model held in memory. Tensors stored as
// external data are refused, since there is no folder to read them from.
func Decode(data []byte, name string, lim Limits) (*pb.ModelProto, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxProtoBytes {
		return nil, &Error{File: name, Rule: fmt.Sprintf("model is %d bytes, over the %d-byte limit for one protobuf", len(data), lim.MaxProtoBytes)}
	}
	m, err := decode(data, name, lim)
	if err != nil {
		return nil, err
	}
	c := &checker{file: name, limits: lim}
	var ext error
	forEachTensor(m, func(where string, t *pb.TensorProto) bool {
		if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
			ext = c.errf(where, "stores its data externally, which needs the model's file path")
			return false
		}
		return true
	})
	if ext != nil {
		return nil, ext
	}
	return m, nil
}

func decode(data []byte, name string, lim Limits) (*pb.ModelProto, error) {
	m := &pb.ModelProto{}
	opts := proto.UnmarshalOptions{RecursionLimit: recursionLimit, DiscardUnknown: false}
	if err := opts.Unmarshal(data, m); err != nil {
		return nil, &Error{File: name, Rule: "not a valid ONNX protobuf", Err: err}
	}
	c := &checker{file: name, limits: lim}
	if err := c.model(m); err != nil {
		return nil, err
	}
	return m, nil
}

// IsError reports whether err is a validation *Error.
func IsError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

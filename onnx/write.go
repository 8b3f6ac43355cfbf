package onnx

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/podaml/poda/internal/atomicfile"
	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// WriteOptions control how a model is written.
type WriteOptions struct {
	// ExternalThreshold moves initializers of at least this many bytes to
	// an external data file beside the model. Zero keeps every tensor inline.
	ExternalThreshold int64
	// ExternalName is the data file's name, relative to the model's folder.
	// Default: the model's file name with ".data" appended.
	ExternalName string
	// Protect lists files that must not be overwritten, typically the
	// Sources of the model that was read.
	Protect []string
}

// Marshal encodes m deterministically: the same model always gives the
// same bytes.
func Marshal(m *pb.ModelProto) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding model: %w", err)
	}
	return b, nil
}

// WriteFile writes m to path atomically and deterministically. m itself is
// not modified.
func WriteFile(path string, m *pb.ModelProto, opt WriteOptions) error {
	if src, same := atomicfile.SameFile(path, opt.Protect...); same {
		return &Error{File: path, Rule: fmt.Sprintf("refusing to overwrite the input file %s", src)}
	}
	if opt.ExternalThreshold <= 0 {
		b, err := Marshal(m)
		if err != nil {
			return err
		}
		return atomicfile.WriteFile(path, b, 0o644)
	}
	name := opt.ExternalName
	if name == "" {
		name = filepath.Base(path) + ".data"
	}
	if err := checkLocation(name); err != nil {
		return &Error{File: path, Rule: fmt.Sprintf("external data name %q: %v", name, err)}
	}
	dir := filepath.Dir(path)
	dataPath := filepath.Join(dir, filepath.FromSlash(name))
	if filepath.Clean(dataPath) == filepath.Clean(path) {
		return &Error{File: path, Rule: fmt.Sprintf("external data name %q is the model file itself", name)}
	}
	if err := checkDataDirs(dir, name); err != nil {
		return &Error{File: path, Rule: fmt.Sprintf("external data name %q: %v", name, err)}
	}
	if src, same := atomicfile.SameFile(dataPath, opt.Protect...); same {
		return &Error{File: dataPath, Rule: fmt.Sprintf("refusing to overwrite the input file %s", src)}
	}
	out := proto.Clone(m).(*pb.ModelProto)
	var chunks [][]byte
	var offset int64
	for _, t := range out.GetGraph().GetInitializer() {
		if int64(len(t.RawData)) < opt.ExternalThreshold || t.RawData == nil {
			continue
		}
		// Align each tensor to 64 bytes so readers can map it directly.
		if pad := (64 - offset%64) % 64; pad > 0 {
			chunks = append(chunks, make([]byte, pad))
			offset += pad
		}
		chunks = append(chunks, t.RawData)
		t.ExternalData = []*pb.StringStringEntryProto{
			{Key: proto.String("location"), Value: proto.String(name)},
			{Key: proto.String("offset"), Value: proto.String(strconv.FormatInt(offset, 10))},
			{Key: proto.String("length"), Value: proto.String(strconv.Itoa(len(t.RawData)))},
		}
		t.DataLocation = pb.TensorProto_EXTERNAL.Enum()
		offset += int64(len(t.RawData))
		t.RawData = nil
	}
	b, err := Marshal(out)
	if err != nil {
		return err
	}
	if len(chunks) == 0 {
		// Nothing is big enough to move: no data file.
		return atomicfile.WriteFile(path, b, 0o644)
	}
	// Both files are written in full before either is renamed into place,
	// and the data file is renamed first, so the model never points at
	// missing data and a failure while writing leaves the old pair intact.
	mf, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return err
	}
	defer mf.Abort()
	if _, err := mf.Write(b); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := mf.Flush(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := atomicfile.Write(dataPath, 0o644, func(w io.Writer) error {
		for _, c := range chunks {
			if _, err := w.Write(c); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	return mf.Commit()
}

// checkDataDirs refuses a data file name whose folders, inside dir, are
// symbolic links or not folders: the data file would land outside dir.
func checkDataDirs(dir, name string) error {
	parts := strings.Split(path.Clean(name), "/")
	for i := 1; i < len(parts); i++ {
		p := filepath.Join(dir, filepath.FromSlash(strings.Join(parts[:i], "/")))
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s is a symbolic link, which Poda refuses", p)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", p)
		}
	}
	return nil
}

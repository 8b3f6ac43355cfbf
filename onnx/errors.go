package onnx

import (
	"fmt"
	"strings"
)

// Error is a rejected input: which file, which part of it, and which rule.
type Error struct {
	File  string // the model or data file
	Where string // e.g. `tensor "fc1.weight"` or `node "Conv_3" (Conv)`; may be empty
	Rule  string // the rule that was broken, in words
	Err   error  // the underlying cause, if any
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(": ")
	}
	if e.Where != "" {
		b.WriteString(e.Where)
		b.WriteString(": ")
	}
	b.WriteString(e.Rule)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// checker accumulates the context of validation errors.
type checker struct {
	file    string
	limits  Limits
	total   int64 // bytes of tensor data seen so far
	tensors int   // TensorProtos seen so far
	depth   int
}

func (c *checker) errf(where, format string, args ...any) error {
	return &Error{File: c.file, Where: where, Rule: fmt.Sprintf(format, args...)}
}

func tensorWhere(name string) string { return fmt.Sprintf("tensor %q", name) }

func nodeWhere(name, op string) string {
	if name == "" {
		return fmt.Sprintf("unnamed %s node", op)
	}
	return fmt.Sprintf("node %q (%s)", name, op)
}

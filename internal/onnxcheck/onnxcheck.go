// Package onnxcheck runs the reference ONNX checker (Debian's python3-onnx,
// onnx.checker.check_model with full_check=True) on models that tests
// write. Poda never needs Python at run time; tests use it as an
// independent judge. Outside CI a missing checker skips the check; in CI
// (CI=true) it fails the test, since .ci/run installs python3-onnx.
package onnxcheck

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Python is the interpreter that has the onnx package.
const Python = "/usr/bin/python3"

const script = `
import sys, onnx
for p in sys.argv[1:]:
    onnx.checker.check_model(onnx.load(p), full_check=True)
`

// Available reports whether the checker can run here.
func Available() bool {
	return exec.Command(Python, "-c", "import onnx").Run() == nil
}

// Check runs onnx.checker (full_check) on the model files at paths and
// fails t if it rejects any of them.
func Check(t testing.TB, paths ...string) {
	t.Helper()
	if !Available() {
		if os.Getenv("CI") == "true" {
			t.Fatalf("onnx checker unavailable in CI: %s cannot import onnx (install python3-onnx)", Python)
		}
		t.Skipf("%s cannot import onnx; install python3-onnx to check written models", Python)
	}
	out, err := exec.Command(Python, append([]string{"-c", script}, paths...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("onnx.checker rejects %s: %v\n%s", strings.Join(paths, ", "), err, out)
	}
}

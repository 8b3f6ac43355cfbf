package runtime

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

// The ONNX backend test data shipped by Debian's libonnx-testdata.
const conformanceRoot = "/usr/share/libonnx-testdata/data"

// conformanceErrata are tests whose reference data in ONNX 1.12 is known
// to be wrong: the bfloat16 cast reference truncates instead of rounding
// to nearest even, and the CastLike data sets give "like" a shape other
// than the model declares.
var conformanceErrata = map[string]string{
	"node/test_cast_FLOAT_to_BFLOAT16":              "reference truncates to bfloat16",
	"node/test_castlike_BFLOAT16_to_FLOAT":          "data contradicts declared shape",
	"node/test_castlike_BFLOAT16_to_FLOAT_expanded": "data contradicts declared shape",
	"node/test_castlike_FLOAT_to_BFLOAT16":          "data contradicts declared shape",
	"node/test_castlike_FLOAT_to_BFLOAT16_expanded": "data contradicts declared shape",
	"node/test_castlike_FLOAT_to_FLOAT16":           "data contradicts declared shape",
	"node/test_castlike_FLOAT_to_FLOAT16_expanded":  "data contradicts declared shape",
	"node/test_castlike_FLOAT16_to_FLOAT":           "data contradicts declared shape",
	"node/test_castlike_FLOAT16_to_FLOAT_expanded":  "data contradicts declared shape",
	"node/test_castlike_FLOAT_to_DOUBLE":            "data contradicts declared shape",
	"node/test_castlike_FLOAT_to_DOUBLE_expanded":   "data contradicts declared shape",
	"node/test_castlike_DOUBLE_to_FLOAT":            "data contradicts declared shape",
	"node/test_castlike_DOUBLE_to_FLOAT_expanded":   "data contradicts declared shape",
	"node/test_castlike_DOUBLE_to_FLOAT16":          "data contradicts declared shape",
	"node/test_castlike_DOUBLE_to_FLOAT16_expanded": "data contradicts declared shape",
	"node/test_castlike_FLOAT16_to_DOUBLE":          "data contradicts declared shape",
	"node/test_castlike_FLOAT16_to_DOUBLE_expanded": "data contradicts declared shape",
}

var conformanceSuites = []string{"node", "pytorch-converted", "pytorch-operator", "simple"}

// TestConformance runs every backend test whose ops and element types the
// runtime supports and compares with the reference outputs (rtol 1e-3,
// atol 1e-7 for floats, exact for integers and bools). Tests with
// unsupported ops or types are skipped and counted.
func TestConformance(t *testing.T) {
	if _, err := os.Stat(conformanceRoot); err != nil {
		t.Skipf("ONNX backend test data not installed (%s): apt-get install libonnx-testdata", conformanceRoot)
	}
	only := os.Getenv("PODA_CONFORMANCE")
	var passed, failed, skipped int
	unsupported := map[string]int{}
	for _, suite := range conformanceSuites {
		dirs, _ := filepath.Glob(filepath.Join(conformanceRoot, suite, "*"))
		sort.Strings(dirs)
		for _, dir := range dirs {
			name := suite + "/" + filepath.Base(dir)
			if only != "" && !strings.Contains(name, only) {
				continue
			}
			reason, err := runConformance(dir)
			if e, ok := conformanceErrata[name]; ok && err != nil {
				reason, err = "errata: "+e, nil
			}
			switch {
			case reason != "":
				skipped++
				for _, r := range strings.Split(reason, "+") {
					unsupported[r]++
				}
				if only != "" {
					t.Logf("%s: skipped: %s", name, reason)
				}
			case err != nil:
				failed++
				t.Errorf("%s: %v", name, err)
			default:
				passed++
			}
		}
	}
	summary := fmt.Sprintf("conformance: %d passed, %d failed, %d skipped", passed, failed, skipped)
	var reasons []string
	for r := range unsupported {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		if unsupported[reasons[i]] != unsupported[reasons[j]] {
			return unsupported[reasons[i]] > unsupported[reasons[j]]
		}
		return reasons[i] < reasons[j]
	})
	var b strings.Builder
	b.WriteString(summary + "\nunsupported ops (tests skipped for each):")
	for _, r := range reasons {
		if op, ok := strings.CutPrefix(r, "op:"); ok {
			fmt.Fprintf(&b, " %s×%d", op, unsupported[r])
		}
	}
	b.WriteString("\nother skip reasons:")
	for _, r := range reasons {
		if !strings.HasPrefix(r, "op:") {
			fmt.Fprintf(&b, " [%s]×%d", r, unsupported[r])
		}
	}
	fmt.Println(b.String())
	t.Log(b.String())
}

// runConformance runs one backend test directory. It returns a non-empty
// reason when the test uses something unsupported.
func runConformance(dir string) (reason string, err error) {
	m, err := graph.Load(filepath.Join(dir, "model.onnx"), onnx.Limits{})
	if err != nil {
		return "", fmt.Errorf("loading: %w", err)
	}
	g := m.Graph
	var missing []string
	for _, n := range g.Nodes {
		if n.HasSubgraph() || !Supports(n.Domain, n.OpType, m.Opset(n.Domain)) {
			missing = append(missing, n.OpType)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return "op:" + strings.Join(slices.Compact(missing), "+op:"), nil
	}
	for _, v := range append(append([]*graph.Value(nil), g.Inputs...), g.Outputs...) {
		if !v.IsTensor() {
			return "non-tensor value", nil
		}
		if !castable(v.DType) {
			return "dtype:" + v.DType.String(), nil
		}
	}
	s, err := New(m, Options{})
	if err != nil {
		var ue *UnsupportedError
		if errors.As(err, &ue) {
			return "unsupported:" + ue.OpType + ":" + ue.Reason, nil
		}
		return "", err
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		return "", errors.New("no test data sets")
	}
	for _, set := range sets {
		inputs := map[string]*tensor.Tensor{}
		real := g.RealInputs()
		for i := 0; ; i++ {
			tp, err := readPB(filepath.Join(set, fmt.Sprintf("input_%d.pb", i)))
			if os.IsNotExist(err) {
				break
			}
			if err != nil {
				return "", err
			}
			name := tp.GetName()
			if name == "" || g.Value(name) == nil {
				if i >= len(real) {
					return "", fmt.Errorf("input_%d.pb has no matching graph input", i)
				}
				name = real[i].Name
			}
			x, err := onnx.ToTensor(tp)
			if err != nil {
				return "", err
			}
			if v := g.Value(name); v != nil && v.DType == tensor.BFloat16 && x.DType == tensor.Uint16 {
				x.DType = tensor.BFloat16 // ONNX 1.12 stored bfloat16 test data as uint16
			}
			inputs[name] = x
		}
		got, err := s.Run(context.Background(), inputs)
		if err != nil {
			var ue *UnsupportedError
			if errors.As(err, &ue) {
				return "unsupported:" + ue.OpType + ":" + ue.Reason, nil
			}
			return "", fmt.Errorf("%s: %w", filepath.Base(set), err)
		}
		for i, o := range g.Outputs {
			tp, err := readPB(filepath.Join(set, fmt.Sprintf("output_%d.pb", i)))
			if err != nil {
				return "", err
			}
			want, err := onnx.ToTensor(tp)
			if err != nil {
				return "", err
			}
			if o.DType == tensor.BFloat16 && want.DType == tensor.Uint16 {
				want.DType = tensor.BFloat16
			}
			if err := compareTensors(got[o.Name], want, 1e-3, 1e-7); err != nil {
				return "", fmt.Errorf("%s: output %q: %w", filepath.Base(set), o.Name, err)
			}
		}
	}
	return "", nil
}

func readPB(path string) (*pb.TensorProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tp := &pb.TensorProto{}
	if err := proto.Unmarshal(b, tp); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return tp, nil
}

// compareTensors checks got against want: same type and shape, floats
// within |g-w| <= atol + rtol·|w| (NaN matches NaN), others exactly.
func compareTensors(got, want *tensor.Tensor, rtol, atol float64) error {
	if got == nil {
		return errors.New("missing")
	}
	if got.DType != want.DType {
		return fmt.Errorf("type %s, want %s", got.DType, want.DType)
	}
	if !sameInts(got.Shape, want.Shape) {
		return fmt.Errorf("shape %v, want %v", got.Shape, want.Shape)
	}
	n := want.Numel()
	bad, first := 0, -1
	var worst float64
	for i := 0; i < n; i++ {
		if want.DType.IsFloat() {
			g, w := getF64(got, got.DType, i), getF64(want, want.DType, i)
			if math.IsNaN(w) && math.IsNaN(g) || g == w {
				continue
			}
			if d := math.Abs(g - w); !(d <= atol+rtol*math.Abs(w)) {
				bad++
				if first < 0 {
					first = i
				}
				worst = math.Max(worst, d)
			}
			continue
		}
		if getI64(got, got.DType, i) != getI64(want, want.DType, i) {
			bad++
			if first < 0 {
				first = i
			}
		}
	}
	if bad > 0 {
		if want.DType.IsFloat() {
			return fmt.Errorf("%d of %d elements differ (first at %d: %g, want %g; max |diff| %g)",
				bad, n, first, getF64(got, got.DType, first), getF64(want, want.DType, first), worst)
		}
		return fmt.Errorf("%d of %d elements differ (first at %d: %d, want %d)",
			bad, n, first, getI64(got, got.DType, first), getI64(want, want.DType, first))
	}
	return nil
}

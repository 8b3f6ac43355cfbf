package prune

import (
	"context"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

func TestFindBlocks(t *testing.T) {
	cases := []struct {
		name            string
		residual, layer int
	}{
		{"mbv2_block", 2, 0},
		{"transformer", 4, 2},
		{"resnet_bnfold", 4, 0}, // 6 blocks, the first of stages 2 and 3 downsample
		{"resnet_bn", 4, 0},
		{"concat_block", 0, 0},
		{"mobilenet_v2", 10, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _ := structuredFixture(t, c.name)
			blocks, err := FindBlocks(m)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[string]int{}
			for _, b := range blocks {
				kinds[b.Kind]++
				t.Logf("%-8s %-40s %s → %s, %d nodes, %d params", b.Kind, b.Name, b.Input, b.Output, len(b.Nodes), b.Params)
				if b.Params == 0 {
					t.Errorf("block %s has no parameters of its own", b.Name)
				}
			}
			if kinds["residual"] != c.residual || kinds["layer"] != c.layer {
				t.Errorf("found %d residual blocks and %d layers, want %d and %d", kinds["residual"], kinds["layer"], c.residual, c.layer)
			}
		})
	}
}

// outputScore scores a bypassed model by its output change on x, with the
// runtime or (while the runtime lacks ops) the training forward pass.
func outputScore(t *testing.T, ref *tensor.Tensor, x *tensor.Tensor) func(*graph.Model, Block) (float64, error) {
	return func(m *graph.Model, _ Block) (float64, error) {
		y := runStructured(t, m, x)
		return outputChange([]map[string]*tensor.Tensor{{"y": ref}}, []map[string]*tensor.Tensor{{"y": y}}), nil
	}
}

func TestRemoveBlocks(t *testing.T) {
	for _, name := range []string{"resnet_bnfold", "resnet_bn", "mbv2_block", "transformer"} {
		t.Run(name, func(t *testing.T) {
			m, x := structuredFixture(t, name)
			y0 := runStructured(t, m, x)
			before := structuredMACs(t, m)
			rep, err := RemoveBlocks(context.Background(), m, DepthOptions{K: 1, Score: outputScore(t, y0, x)})
			if err != nil {
				t.Fatal(err)
			}
			removed := 0
			for _, c := range rep.Candidates {
				t.Logf("%-48s score %.4g removed %v", c.Name, c.Score, c.Removed)
				if c.Removed {
					removed++
				}
			}
			if removed != 1 {
				t.Fatalf("removed %d blocks, want 1", removed)
			}
			// The removed block is the one whose bypass changed the output
			// least.
			for _, c := range rep.Candidates {
				for _, r := range rep.Candidates {
					if r.Removed && c.Score < r.Score && !strings.HasPrefix(c.Name, "layer:") {
						t.Errorf("removed %s (score %g) but %s scores %g", r.Name, r.Score, c.Name, c.Score)
					}
				}
			}
			if rep.ParamsAfter >= rep.ParamsBefore {
				t.Errorf("params %d → %d", rep.ParamsBefore, rep.ParamsAfter)
			}
			after := structuredMACs(t, m)
			t.Logf("params %d → %d, MACs %d → %d", rep.ParamsBefore, rep.ParamsAfter, before, after)
			if after >= before {
				t.Errorf("MACs %d → %d", before, after)
			}
			if err := m.Graph.Check(); err != nil {
				t.Fatal(err)
			}
			onnxCheck(t, m)
			y := runStructured(t, m, x)
			if len(y.F32) != len(y0.F32) {
				t.Fatalf("output shape %v, want %v", y.Shape, y0.Shape)
			}
		})
	}
}

func TestRemoveBlocksByName(t *testing.T) {
	m, _ := structuredFixture(t, "transformer")
	blocks, err := FindBlocks(m)
	if err != nil {
		t.Fatal(err)
	}
	var layer string
	for _, b := range blocks {
		if b.Kind == "layer" {
			layer = b.Name
			break
		}
	}
	if layer == "" {
		t.Fatal("no transformer layer found")
	}
	rep, err := RemoveBlocks(context.Background(), m, DepthOptions{Blocks: []string{layer}})
	if err != nil {
		t.Fatal(err)
	}
	mm := 0
	for _, n := range m.Graph.Nodes {
		if n.OpType == "Softmax" {
			mm++
		}
	}
	if mm != 1 {
		t.Errorf("%d attention softmaxes left, want 1", mm)
	}
	t.Logf("params %d → %d", rep.ParamsBefore, rep.ParamsAfter)
	onnxCheck(t, m)
	if _, err := RemoveBlocks(context.Background(), m, DepthOptions{Blocks: []string{"nope"}}); err == nil {
		t.Error("unknown block name accepted")
	}
	if _, err := RemoveBlocks(context.Background(), m, DepthOptions{K: 1}); err == nil {
		t.Error("K without calibration or Score accepted")
	}
}

// TestRemoveBlocksCalibration uses the default importance: the runtime's
// output change on calibration inputs.
func TestRemoveBlocksCalibration(t *testing.T) {
	for _, name := range []string{"resnet_bnfold", "transformer"} {
		t.Run(name, func(t *testing.T) {
			m, x := structuredFixture(t, name)
			y0 := runStructured(t, m, x)
			cal := []map[string]*tensor.Tensor{{m.Graph.RealInputs()[0].Name: x}}
			rep, err := RemoveBlocks(context.Background(), m, DepthOptions{K: 2, Calibration: cal})
			if err != nil {
				t.Fatal(err)
			}
			var removed []BlockReport
			for _, c := range rep.Candidates {
				if c.Removed {
					removed = append(removed, c)
				}
				if c.Score < 0 || c.Score != c.Score {
					t.Errorf("%s: score %v", c.Name, c.Score)
				}
			}
			if len(removed) != 2 {
				t.Fatalf("removed %d blocks, want 2", len(removed))
			}
			if rep.ParamsAfter >= rep.ParamsBefore {
				t.Errorf("params %d → %d", rep.ParamsBefore, rep.ParamsAfter)
			}
			onnxCheck(t, m)
			y := runStructured(t, m, x)
			t.Logf("removed %s and %s; output change %.3g", removed[0].Name, removed[1].Name, relDiff(y0, y))
		})
	}
}

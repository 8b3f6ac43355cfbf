package prune

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/prune/depgraph"
	"github.com/podaml/poda/tensor"
)

var structuredFixtures = []string{"resnet_bnfold", "resnet_bn", "concat_block", "mbv2_block", "transformer",
	"mobilenet_v2", "resnet18", "lenet5", "lenet300"}

// TestStructuredValid prunes half of every fixture's channels and checks
// that the result is a valid, smaller model (graph.Check, onnx.checker).
func TestStructuredValid(t *testing.T) {
	for _, name := range structuredFixtures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			m, _ := structuredFixture(t, name)
			rep, err := Structured(context.Background(), m, StructuredOptions{Ratio: 0.5})
			if err != nil {
				t.Fatal(err)
			}
			if rep.ChannelsAfter >= rep.ChannelsBefore || rep.ParamsAfter >= rep.ParamsBefore {
				t.Errorf("nothing pruned: channels %d→%d, params %d→%d", rep.ChannelsBefore, rep.ChannelsAfter, rep.ParamsBefore, rep.ParamsAfter)
			}
			for _, g := range rep.Groups {
				t.Logf("%-40s %3d → %3d %s", g.Name, g.Before, g.After, g.Declined)
			}
			t.Logf("params %d → %d", rep.ParamsBefore, rep.ParamsAfter)
			if err := m.Graph.Check(); err != nil {
				t.Fatal(err)
			}
			onnxCheck(t, m)
		})
	}
}

// TestStructuredEquivalence checks Apply against Zero: zeroing the
// producer side of the chosen channels makes them output exactly zero, so
// the zeroed model and the physically pruned one compute the same
// function.
func TestStructuredEquivalence(t *testing.T) {
	ctx := context.Background()
	for _, name := range structuredFixtures {
		for _, v := range []struct {
			name string
			opt  StructuredOptions
		}{
			{"l2", StructuredOptions{Ratio: 0.5, Criterion: GroupL2{}}},
			{"random", StructuredOptions{Ratio: 0.5, Criterion: GroupRandom{Seed: 7}}},
			{"bn-global-round8", StructuredOptions{Ratio: 0.5, Global: true, RoundTo: 8, Criterion: GroupBNScale{Fallback: GroupL1{}}}},
		} {
			t.Run(name+"/"+v.name, func(t *testing.T) {
				m0, x := structuredFixture(t, name)
				opt := v.opt
				mz := m0.Clone()
				d, plan, _, err := PlanStructured(ctx, mz, opt)
				if err != nil {
					t.Fatal(err)
				}
				if len(plan) == 0 {
					t.Fatal("empty plan")
				}
				if err := d.Zero(plan); err != nil {
					t.Fatal(err)
				}
				mp := m0.Clone()
				if _, err := Structured(ctx, mp, opt); err != nil {
					t.Fatal(err)
				}
				yz := runStructured(t, mz, x)
				yp := runStructured(t, mp, x)
				e := relDiff(yz, yp)
				// Not vacuous: removing half the channels changes the
				// function.
				e0 := relDiff(runStructured(t, m0, x), yp)
				t.Logf("zeroed vs pruned: %.3g; original vs pruned: %.3g", e, e0)
				if e > 1e-5 {
					t.Errorf("zeroed and pruned models differ by %.3g (relative)", e)
				}
				if e0 < 1e-4 {
					t.Errorf("pruning changed the output by only %.3g: the test proves nothing", e0)
				}
			})
		}
	}
}

// TestStructuredRatioZero: pruning nothing leaves the function unchanged.
func TestStructuredRatioZero(t *testing.T) {
	for _, name := range []string{"resnet_bn", "concat_block", "transformer"} {
		t.Run(name, func(t *testing.T) {
			m0, x := structuredFixture(t, name)
			m := m0.Clone()
			rep, err := Structured(context.Background(), m, StructuredOptions{Ratio: 0})
			if err != nil {
				t.Fatal(err)
			}
			if rep.ParamsAfter != rep.ParamsBefore {
				t.Errorf("params %d → %d at ratio 0", rep.ParamsBefore, rep.ParamsAfter)
			}
			if e := relDiff(runStructured(t, m0, x), runStructured(t, m, x)); e != 0 {
				t.Errorf("outputs differ by %.3g", e)
			}
		})
	}
}

// TestStructuredMACs: half the channels of the ResNet fixture cost at
// least 2.5× fewer multiply-accumulates.
func TestStructuredMACs(t *testing.T) {
	for _, name := range []string{"resnet_bnfold", "resnet_bn"} {
		t.Run(name, func(t *testing.T) {
			m, _ := structuredFixture(t, name)
			before := structuredMACs(t, m)
			if _, err := Structured(context.Background(), m, StructuredOptions{Ratio: 0.5}); err != nil {
				t.Fatal(err)
			}
			after := structuredMACs(t, m)
			t.Logf("MACs %d → %d (%.2f×)", before, after, float64(before)/float64(after))
			if float64(before) < 2.5*float64(after) {
				t.Errorf("MACs %d → %d: less than 2.5× fewer", before, after)
			}
			onnxCheck(t, m)
		})
	}
}

func TestStructuredGlobalRoundTo(t *testing.T) {
	m, _ := structuredFixture(t, "mbv2_block")
	rep, err := Structured(context.Background(), m, StructuredOptions{Ratio: 0.4, Global: true, RoundTo: 8, Criterion: GroupL2{}})
	if err != nil {
		t.Fatal(err)
	}
	removed := 0
	for _, g := range rep.Groups {
		if g.Declined != "" {
			continue
		}
		if g.After < g.Before && g.After%8 != 0 {
			t.Errorf("%s keeps %d channels, not a multiple of 8", g.Name, g.After)
		}
		if g.After < 8 && g.Before >= 8 {
			t.Errorf("%s keeps %d channels, fewer than RoundTo", g.Name, g.After)
		}
		removed += g.Before - g.After
	}
	if removed == 0 {
		t.Error("global pruning removed nothing")
	}
	if err := m.Graph.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestStructuredExcludeAndPerGroup(t *testing.T) {
	m, _ := structuredFixture(t, "concat_block")
	rep, err := Structured(context.Background(), m, StructuredOptions{
		Ratio:    0.5,
		Exclude:  []string{"/stem/*"},
		PerGroup: map[string]float64{"/mix/Conv": 0.25},
	})
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := structuredFixture(t, "concat_block")
	rep2, err := Structured(context.Background(), m2, StructuredOptions{Ratio: 0.5, Exclude: []string{"Gemm"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rep2.Groups {
		// The groups that reach the classifier: the concat branches
		// feeding the residual Add (then GAP, Flatten, Gemm) and the fc.
		touchesGemm := g.Name == "/branch_a/Conv" || g.Name == "/fc/Gemm"
		if touchesGemm != (g.After == g.Before) {
			t.Errorf("Exclude Gemm: %s %d → %d (%s)", g.Name, g.Before, g.After, g.Declined)
		}
	}
	for _, g := range rep.Groups {
		switch g.Name {
		case "/stem/Conv":
			if !strings.Contains(g.Declined, "excluded") || g.After != g.Before {
				t.Errorf("stem: %+v", g)
			}
		case "/mix/Conv":
			if g.After != 12 {
				t.Errorf("mix keeps %d of 16 channels, want 12", g.After)
			}
		}
	}
}

func TestStructuredBNScaleDeclinesWithoutBN(t *testing.T) {
	m, _ := structuredFixture(t, "resnet_bnfold")
	rep, err := Structured(context.Background(), m, StructuredOptions{Ratio: 0.5, Criterion: GroupBNScale{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rep.Groups {
		if g.After != g.Before {
			t.Errorf("%s pruned with BN scale criterion on a BN-folded model", g.Name)
		}
	}
	m2, _ := structuredFixture(t, "resnet_bn")
	rep, err = Structured(context.Background(), m2, StructuredOptions{Ratio: 0.5, Criterion: GroupBNScale{}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.ChannelsAfter >= rep.ChannelsBefore {
		t.Error("BN scale criterion pruned nothing on resnet_bn")
	}
}

func TestStructuredBadOptions(t *testing.T) {
	m, _ := structuredFixture(t, "concat_block")
	for _, opt := range []StructuredOptions{{Ratio: 1}, {Ratio: -0.1}, {Ratio: 0.5, RoundTo: -1}, {Ratio: 0.5, PerGroup: map[string]float64{"x": 2}}} {
		if _, err := Structured(context.Background(), m.Clone(), opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
}

// TestStructuredRoundToHeads: RoundTo counts positions, so attention
// heads of head_dim 8 are kept in pairs for RoundTo 16.
func TestStructuredRoundToHeads(t *testing.T) {
	m, _ := structuredFixture(t, "transformer")
	rep, err := Structured(context.Background(), m, StructuredOptions{Ratio: 0.75, RoundTo: 16})
	if err != nil {
		t.Fatal(err)
	}
	heads := 0
	for _, g := range rep.Groups {
		if len(g.Producers) != 3 {
			continue
		}
		heads++
		if g.After != 2 {
			t.Errorf("%s keeps %d heads, want 2 (1 rounded up to 16 positions)", g.Name, g.After)
		}
	}
	if heads != 2 {
		t.Errorf("%d attention groups, want 2", heads)
	}
	onnxCheck(t, m)
}

// TestGroupNormCriteria checks the norms on a hand-made group.
func TestGroupNormCriteria(t *testing.T) {
	m, _ := structuredFixture(t, "lenet300")
	d, err := depgraph.Build(m)
	if err != nil {
		t.Fatal(err)
	}
	g := d.Prunable()[0]
	out := structuredMember(t, g, depgraph.RoleOut)
	w := m.Graph.Initializer(out.Tensor)
	// fc1 output neuron 3: its weight row, its bias, its fc2 input column.
	var l1, l2 float64
	for _, s := range g.Members {
		t2 := m.Graph.Initializer(s.Tensor)
		outer := tensor.Prod(t2.Shape[:s.Axis])
		inner := tensor.Prod(t2.Shape[s.Axis+1:])
		for _, i := range s.Index[3] {
			for o := 0; o < outer; o++ {
				for _, v := range t2.F32[(o*t2.Shape[s.Axis]+i)*inner : (o*t2.Shape[s.Axis]+i+1)*inner] {
					l1 += math.Abs(float64(v))
					l2 += float64(v) * float64(v)
				}
			}
		}
	}
	s1, _ := GroupL1{}.Score(g, m)
	s2, _ := GroupL2{}.Score(g, m)
	if math.Abs(s1[3]-l1) > 1e-9*l1 || math.Abs(s2[3]-math.Sqrt(l2)) > 1e-9*l2 {
		t.Errorf("L1 %g want %g, L2 %g want %g", s1[3], l1, s2[3], math.Sqrt(l2))
	}
	// Per-slice normalization: every member contributes mean 1.
	sp, _ := GroupL1{PerSlice: true}.Score(g, m)
	var sum float64
	for _, v := range sp {
		sum += v
	}
	if want := float64(len(g.Members) * g.Channels); math.Abs(sum-want) > 1e-6*want {
		t.Errorf("per-slice scores sum to %g, want %g", sum, want)
	}
	if len(w.Shape) != 2 {
		t.Fatalf("fc1 weight %v", w.Shape)
	}
	r1, _ := GroupRandom{Seed: 1}.Score(g, m)
	r2, _ := GroupRandom{Seed: 1}.Score(g, m)
	r3, _ := GroupRandom{Seed: 2}.Score(g, m)
	if !slices.Equal(r1, r2) || slices.Equal(r1, r3) {
		t.Error("GroupRandom is not a function of its seed")
	}
	if _, err := (GroupBNScale{}).Score(g, m); err == nil {
		t.Error("BN scale scored a group without BatchNormalization")
	}
}

func structuredMember(t *testing.T, g *depgraph.Group, r depgraph.Role) depgraph.Slice {
	for _, s := range g.Members {
		if s.Role == r {
			return s
		}
	}
	t.Fatalf("%s has no %s member", g, r)
	return depgraph.Slice{}
}

// TestStructuredTruncatedGraphs cuts each small fixture after every node
// (that node's output becomes the graph output), so channels stop at every
// kind of op, and checks that pruning still yields a model that computes
// what zeroing the same channels computes.
func TestStructuredTruncatedGraphs(t *testing.T) {
	ctx := context.Background()
	for _, name := range []string{"concat_block", "mbv2_block", "transformer", "resnet_bn"} {
		t.Run(name, func(t *testing.T) {
			m0, x := structuredFixture(t, name)
			pruned := 0
			for i, n := range m0.Graph.Nodes {
				if n.OpType == "Shape" || n.OpType == "Constant" || len(n.Outputs) == 0 {
					continue
				}
				if testing.Short() && i%5 != 0 {
					continue
				}
				cut := m0.Clone()
				cut.Graph.Outputs = []*graph.Value{{Name: n.Outputs[0], DType: tensor.Float}}
				cut.Graph.Prune()
				opt := StructuredOptions{Ratio: 0.5, Criterion: GroupRandom{Seed: uint64(i)}}
				mz := cut.Clone()
				d, plan, _, err := PlanStructured(ctx, mz, opt)
				if err != nil {
					t.Fatalf("cut after %s: %v", n, err)
				}
				if len(plan) == 0 {
					continue
				}
				if err := d.Zero(plan); err != nil {
					t.Fatalf("cut after %s: %v", n, err)
				}
				mp := cut.Clone()
				if _, err := Structured(ctx, mp, opt); err != nil {
					t.Fatalf("cut after %s: %v", n, err)
				}
				yz, yp := runStructured(t, mz, x), runStructured(t, mp, x)
				if e := relDiff(yz, yp); e > 1e-5 {
					t.Errorf("cut after %s: zeroed and pruned differ by %.3g", n, e)
				}
				pruned++
			}
			t.Logf("%d truncations pruned and checked", pruned)
			if pruned == 0 {
				t.Error("no truncation had anything to prune")
			}
		})
	}
}

func TestGroupTaylorWithoutInputsDeclines(t *testing.T) {
	m, _ := structuredFixture(t, "concat_block")
	rep, err := Structured(context.Background(), m, StructuredOptions{Ratio: 0.5, Criterion: &GroupTaylor{}})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range rep.Groups {
		if g.After != g.Before || g.Declined == "" {
			t.Errorf("%s: %d → %d, declined %q", g.Name, g.Before, g.After, g.Declined)
		}
	}
	if d := rep.Declined(); len(d) == 0 || !strings.Contains(d[0].Declined, "no calibration inputs") && !strings.Contains(d[0].Declined, "graph output") {
		t.Errorf("declined: %+v", d)
	}
}

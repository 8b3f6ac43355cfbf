package inspect

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Change is a before/after pair of one layer (matched by name); a layer
// removed by pruning has After == nil.
type Change struct {
	Name   string `json:"name"`
	Op     string `json:"op"`
	Before *Layer `json:"before"`
	After  *Layer `json:"after,omitempty"`
}

// Comparison is a model before and after an edit.
type Comparison struct {
	Before *Report  `json:"before"`
	After  *Report  `json:"after"`
	Layers []Change `json:"layers"`
	Extra  []Metric `json:"extra,omitempty"` // e.g. accuracy, latency
}

// Metric is a named before/after measurement reported beside the model's
// sizes.
type Metric struct {
	Name   string  `json:"name"`
	Before float64 `json:"before"`
	After  float64 `json:"after"`
	Unit   string  `json:"unit"` // "%", "ms", "" …
}

// Compare pairs the layers of two reports of the same model.
func Compare(before, after *Report) *Comparison {
	c := &Comparison{Before: before, After: after}
	byName := map[string]*Layer{}
	for i := range after.Layers {
		byName[after.Layers[i].Name] = &after.Layers[i]
	}
	for i := range before.Layers {
		b := &before.Layers[i]
		c.Layers = append(c.Layers, Change{Name: b.Name, Op: b.Op, Before: b, After: byName[b.Name]})
	}
	return c
}

// WriteTable prints the per-layer changes and the model totals.
func (c *Comparison) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "layer\top\tshape before\tshape after\tparams before\tparams after\tMACs before\tMACs after\tsparsity\t\n")
	for _, l := range c.Layers {
		if l.After == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t(removed)\t%d\t0\t%d\t0\t-\t\n", l.Name, l.Op, FormatDims(l.Before.WeightShape), l.Before.Params, l.Before.MACs)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%.1f%%\t\n", l.Name, l.Op, FormatDims(l.Before.WeightShape), FormatDims(l.After.WeightShape),
			l.Before.Params, l.After.Params, l.Before.MACs, l.After.MACs, 100*l.After.ZeroFraction)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "model\tbefore\tafter\tchange\t\n")
	row := func(name string, b, a float64, format string) {
		ratio := "-"
		if a != 0 {
			ratio = fmt.Sprintf("%.2f×", b/a)
		}
		fmt.Fprintf(tw, "%s\t"+format+"\t"+format+"\t%s\t\n", name, b, a, ratio)
	}
	row("params", float64(c.Before.Params), float64(c.After.Params), "%.0f")
	row("nonzero params", float64(c.Before.Params)*(1-c.Before.ZeroFraction), float64(c.After.Params)*(1-c.After.ZeroFraction), "%.0f")
	row("MACs/sample", float64(c.Before.MACs), float64(c.After.MACs), "%.0f")
	row("bytes (dense)", float64(c.Before.Bytes), float64(c.After.Bytes), "%.0f")
	fmt.Fprintf(tw, "zeros (all params)\t%.1f%%\t%.1f%%\t\t\n", 100*c.Before.ZeroFraction, 100*c.After.ZeroFraction)
	if c.After.FileSize > 0 {
		row("file bytes", float64(c.Before.FileSize), float64(c.After.FileSize), "%.0f")
	}
	for _, m := range c.Extra {
		change := fmt.Sprintf("%+.4g%s", m.After-m.Before, m.Unit)
		if m.Unit != "%" && m.After > 0 {
			change = fmt.Sprintf("%.2f×", m.Before/m.After) // times (lower is better): how many times faster
		}
		fmt.Fprintf(tw, "%s\t%.4g%s\t%.4g%s\t%s\t\n", m.Name, m.Before, m.Unit, m.After, m.Unit, change)
	}
	return tw.Flush()
}

// FormatDims writes a shape as 20x1x5x5.
func FormatDims(d []int) string {
	parts := make([]string, len(d))
	for i, v := range d {
		parts[i] = fmt.Sprint(v)
	}
	return strings.Join(parts, "x")
}

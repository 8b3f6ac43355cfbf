package prune

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// Recipe is a pruning plan read from YAML: stages applied in order, each
// with its own method and per-layer settings. Example:
//
//	stages:
//	  - unstructured:
//	      sparsity: 0.9
//	      scope: global
//	      exclude: ["fc3.*"]
//	      overrides:
//	        - {pattern: "conv1.*", sparsity: 0.5}
//	  - nm: {n: 2, m: 4}
//	  - structured: {ratio: 0.5, criterion: l1, round_to: 8}
//	    epochs: 1
//
// Epochs asks for that much fine-tuning after the stage when the caller
// recovers accuracy between stages.
type Recipe struct {
	Stages []Stage `yaml:"stages"`
}

// Stage is one step of a recipe: exactly one of its methods is set.
type Stage struct {
	Name         string             `yaml:"name"`
	Unstructured *UnstructuredStage `yaml:"unstructured"`
	NM           *NMStage           `yaml:"nm"`
	Structured   *StructuredStage   `yaml:"structured"`
	RemoveBlocks *DepthStage        `yaml:"remove_blocks"`
	Epochs       float64            `yaml:"epochs"`
}

// UnstructuredStage is the YAML form of UnstructuredOptions.
type UnstructuredStage struct {
	Sparsity  float64  `yaml:"sparsity"`
	Scope     string   `yaml:"scope"`  // layer (default) or global
	Method    string   `yaml:"method"` // magnitude (default) or random
	Seed      uint64   `yaml:"seed"`
	Exclude   []string `yaml:"exclude"`
	Include   []string `yaml:"include"`
	Overrides []struct {
		Pattern  string  `yaml:"pattern"`
		Sparsity float64 `yaml:"sparsity"`
	} `yaml:"overrides"`
}

// NMStage is the YAML form of NMOptions.
type NMStage struct {
	N       int      `yaml:"n"`
	M       int      `yaml:"m"`
	Exclude []string `yaml:"exclude"`
}

// StructuredStage is the YAML form of structured channel pruning.
type StructuredStage struct {
	Ratio     float64            `yaml:"ratio"`
	Criterion string             `yaml:"criterion"` // l1 (default), l2, bn, random
	Global    bool               `yaml:"global"`    // rank channels across groups
	RoundTo   int                `yaml:"round_to"`
	Seed      uint64             `yaml:"seed"`
	Exclude   []string           `yaml:"exclude"`
	Groups    map[string]float64 `yaml:"groups"` // per-group ratios
}

// DepthStage is the YAML form of block removal.
type DepthStage struct {
	K      int      `yaml:"k"`      // remove the K least important blocks
	Blocks []string `yaml:"blocks"` // or exactly these blocks
}

// LoadRecipe reads and checks a recipe file. Unknown keys are errors, so a
// typo cannot silently change what gets pruned.
func LoadRecipe(path string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading recipe: %w", err)
	}
	r, err := ParseRecipe(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRecipe decodes and checks a YAML recipe.
func ParseRecipe(data []byte) (*Recipe, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var r Recipe
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("recipe: %w", err)
	}
	if len(r.Stages) == 0 {
		return nil, fmt.Errorf("recipe has no stages")
	}
	for i, s := range r.Stages {
		set := 0
		for _, p := range []bool{s.Unstructured != nil, s.NM != nil, s.Structured != nil, s.RemoveBlocks != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			return nil, fmt.Errorf("recipe stage %d: want exactly one of unstructured, nm, structured, remove_blocks; got %d", i+1, set)
		}
		if s.Epochs < 0 {
			return nil, fmt.Errorf("recipe stage %d: epochs %v is negative", i+1, s.Epochs)
		}
		if u := s.Unstructured; u != nil {
			if _, err := u.Options(); err != nil {
				return nil, fmt.Errorf("recipe stage %d: %w", i+1, err)
			}
		}
	}
	return &r, nil
}

// Options converts the stage to UnstructuredOptions.
func (u *UnstructuredStage) Options() (UnstructuredOptions, error) {
	o := UnstructuredOptions{Sparsity: u.Sparsity, Seed: u.Seed, Exclude: u.Exclude, Include: u.Include}
	var err error
	if o.Scope, err = ParseScope(u.Scope); err != nil {
		return o, err
	}
	if o.Method, err = ParseMethod(u.Method); err != nil {
		return o, err
	}
	for _, ov := range u.Overrides {
		o.Overrides = append(o.Overrides, Override{Pattern: ov.Pattern, Sparsity: ov.Sparsity})
	}
	if err := checkFraction("sparsity", o.Sparsity); err != nil {
		return o, err
	}
	return o, nil
}

// ParseScope reads "layer" (or "") and "global".
func ParseScope(s string) (Scope, error) {
	switch s {
	case "", "layer":
		return LayerWise, nil
	case "global":
		return Global, nil
	}
	return 0, fmt.Errorf("scope %q: want layer or global", s)
}

// ParseMethod reads "magnitude" (or "") and "random".
func ParseMethod(s string) (Method, error) {
	switch s {
	case "", "magnitude":
		return Magnitude, nil
	case "random":
		return Random, nil
	}
	return 0, fmt.Errorf("method %q: want magnitude or random", s)
}

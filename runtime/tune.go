package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"time"

	"github.com/podaml/poda/internal/atomicfile"
	"github.com/podaml/poda/tensor"
)

// Format choice by measurement (Options.Tune). When a plan is made for a
// new input signature, each Conv, Gemm and MatMul whose weight is a
// constant with at most maxSparseDensity of its values nonzero is
// prepared once per candidate format (dense, then the direct convolution,
// CSR, BSR 1×8 and the N:M patterns the weight fits; a denser Conv tries
// dense and direct only) and each prepared step is timed on the
// layer's real weights and bias with random data of the planned input
// shape: a warm-up run sizes a sample to about tuneSample, then
// tuneRounds samples of every candidate, interleaved so that load on the
// machine hits all of them alike, and each keeps its fastest sample. A
// sparse format is chosen only if it beats dense by more than tuneMargin,
// so a layer never runs slower than dense in the measurement. The sparse
// forms of rejected candidates are dropped.

// LayerFormat is the weight format a plan uses for one Conv, Gemm or
// MatMul with a constant weight.
type LayerFormat struct {
	Node   string `json:"node"`   // node name (its first output's name if unnamed)
	Op     string `json:"op"`     // Conv, Gemm or MatMul
	Format string `json:"format"` // "dense", "csr", "bsr1x8", "nm2:4" …
	// DenseNs and ChosenNs are the measured times of one run of the layer
	// on dense GEMM and in the chosen format, and Speedup their ratio;
	// without tuning (or for layers too dense to tune) they are 0, 0 and 1.
	DenseNs  float64 `json:"dense_ns,omitempty"`
	ChosenNs float64 `json:"chosen_ns,omitempty"`
	Speedup  float64 `json:"speedup"`
}

// LayerFormats reports, per Conv, Gemm and MatMul with a constant weight,
// the format of the most recently used plan (nil before the first Run).
func (s *Session) LayerFormats() []LayerFormat {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.plans) == 0 {
		return nil
	}
	return append([]LayerFormat(nil), s.plans[0].layers...)
}

const (
	tuneSample = 200 * time.Microsecond // target length of one timed sample
	tuneRounds = 7                      // samples per candidate (fewer for slow layers)
	tuneMargin = 0.03                   // a sparse format must beat dense by this fraction
)

// tuneCandidates are the formats tried after dense; those a weight does
// not fit (N:M without the structure) are skipped.
var tuneCandidates = []string{"direct", "csr", "bsr1x8", "nm1:8", "nm1:4", "nm2:8", "nm2:4", "nm4:8"}

// layerName is the name Options.Formats and LayerFormat use for en.
func layerName(en *execNode) string {
	if en.node.Name != "" || len(en.node.Outputs) == 0 {
		return en.node.Name
	}
	return en.node.Outputs[0]
}

// weightLayer reports whether en is a Conv, Gemm or MatMul with a constant
// float32 weight (input 1).
func (s *Session) weightLayer(en *execNode, c *pctx) bool {
	switch en.op.(type) {
	case *convOp, *gemmOp, *matmulOp:
	default:
		return false
	}
	v := c.input(1)
	return v != nil && v.konst != nil && v.dtype == tensor.Float
}

// sparseHolder is implemented by the ops that cache sparse forms.
type sparseHolder interface{ sparseForms() *sparseCache }

func (o *convOp) sparseForms() *sparseCache   { return &o.sparse }
func (o *gemmOp) sparseForms() *sparseCache   { return &o.sparse }
func (o *matmulOp) sparseForms() *sparseCache { return &o.sparse }

// chooseFormat sets c.format for the weight layer en: the format
// Options.Formats names, else, with Options.Tune, the fastest measured
// one, else "" (the heuristic). It returns the layer's report without
// Format, which the caller fills in after preparing.
func (s *Session) chooseFormat(en *execNode, c *pctx) LayerFormat {
	lf := LayerFormat{Node: layerName(en), Op: en.node.OpType, Speedup: 1}
	if s.dense {
		return lf
	}
	if f, ok := s.formats[lf.Node]; ok && f != "" {
		c.format = canonicalFormat(f)
		return lf
	}
	if !s.tune {
		return lf
	}
	candidates := tuneCandidates
	if density(c.input(1).konst.F32) > maxSparseDensity {
		if en.node.OpType != "Conv" {
			return lf
		}
		// Small convolutions (LeNet-5's conv1, 77% nonzero after 90%
		// global pruning) can still run faster without im2col.
		candidates = []string{"direct"}
	}
	type cand struct {
		format string
		run    func()
	}
	var cands []cand
	for _, f := range append([]string{"dense"}, candidates...) {
		run := s.prepareTrial(en, c, f)
		if run == nil {
			if f == "dense" {
				return lf // let the real prepare report the error
			}
			continue
		}
		cands = append(cands, cand{f, run})
	}
	runs := make([]func(), len(cands))
	for i, cd := range cands {
		runs[i] = cd.run
	}
	ns := timeRuns(runs)
	best := 0
	for i := 1; i < len(cands); i++ {
		if ns[i] < ns[0]*(1-tuneMargin) && ns[i] < ns[best] {
			best = i
		}
	}
	c.format = cands[best].format
	if h, ok := en.op.(sparseHolder); ok {
		h.sparseForms().keep(c.format)
	}
	lf.DenseNs, lf.ChosenNs = ns[0], ns[best]
	if ns[best] > 0 {
		lf.Speedup = ns[0] / ns[best]
	}
	return lf
}

// prepareTrial prepares en with the given format on a copy of c and
// returns a function that runs the step once on random inputs of the
// planned shapes (the constant inputs as they are), or nil if prepare
// fails or does not use that format.
func (s *Session) prepareTrial(en *execNode, c *pctx, format string) func() {
	tc := *c
	tc.format, tc.layerFormat, tc.scratch = format, "", 0
	tc.out = make([]*val, len(c.out))
	for i := range tc.out {
		tc.out[i] = &val{}
	}
	run, err := safePrepare(en.op, &tc)
	if tc.layerFormat == "" {
		tc.layerFormat = "dense" // a path without sparse kernels (depthwise)
	}
	if err != nil || tc.layerFormat != format {
		return nil
	}
	rng := rand.New(rand.NewPCG(7, uint64(len(format))))
	ins := make([]*tensor.Tensor, len(tc.in))
	for i, v := range tc.in {
		switch {
		case v == nil:
		case v.konst != nil:
			ins[i] = v.konst
		default:
			t := newTensor(v.dtype, v.shape)
			for j := range t.F32 {
				t.F32[j] = float32(rng.NormFloat64())
			}
			ins[i] = t
		}
	}
	outs := make([]*tensor.Tensor, len(tc.out))
	for i, v := range tc.out {
		if i < len(en.outputs) && en.outputs[i] != "" {
			outs[i] = newTensor(v.dtype, v.shape)
		}
	}
	e := &env{ctx: context.Background(), scratch: make([]float32, tc.scratch), threads: s.threads}
	// A candidate that fails on the trial inputs is not a candidate.
	if err := safeRun(run, e, ins, outs); err != nil {
		return nil
	}
	return func() { _ = run(e, ins, outs) }
}

// timeRuns returns the fastest time of one call of each run, in ns: after
// a warm-up call, which also sizes the samples, up to tuneRounds samples
// of each, interleaved.
func timeRuns(runs []func()) []float64 {
	reps := make([]int, len(runs))
	best := make([]float64, len(runs))
	var slowest time.Duration
	for i, run := range runs {
		t0 := time.Now()
		run()
		d := max(time.Since(t0), time.Microsecond/10)
		reps[i] = max(1, min(1000, int(tuneSample/d)))
		slowest = max(slowest, d)
		best[i] = math.Inf(1)
	}
	rounds := tuneRounds
	if slowest > 20*time.Millisecond {
		rounds = 3
	}
	for r := 0; r < rounds; r++ {
		for i, run := range runs {
			t0 := time.Now()
			for k := 0; k < reps[i]; k++ {
				run()
			}
			best[i] = min(best[i], float64(time.Since(t0))/float64(reps[i]))
		}
	}
	return best
}

// The tuning file. `poda bench --tune` stores the formats it measured
// beside the model (MODEL.poda-tune.json), per batch size, with the
// SHA-256 of the model's bytes: a changed model invalidates it.

// TuningFile is the contents of a tuning file.
type TuningFile struct {
	Version     int                    `json:"version"`
	ModelSHA256 string                 `json:"model_sha256"`
	Batches     map[string]TuningEntry `json:"batches"` // by batch size, in decimal
}

// TuningEntry is the tuning of one batch size.
type TuningEntry struct {
	Threads int           `json:"threads"`
	Layers  []LayerFormat `json:"layers"`
}

const tuningVersion = 1

// TuningPath returns the tuning file of the model at modelPath.
func TuningPath(modelPath string) string { return modelPath + ".poda-tune.json" }

func modelHash(model []byte) string {
	h := sha256.Sum256(model)
	return hex.EncodeToString(h[:])
}

// readTuning reads the tuning file at path if it exists and was made for
// this model (nil otherwise).
func readTuning(path string, model []byte) (*TuningFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var tf TuningFile
	if err := json.Unmarshal(b, &tf); err != nil {
		return nil, fmt.Errorf("runtime: tuning file %s: %w", path, err)
	}
	if tf.Version != tuningVersion || tf.ModelSHA256 != modelHash(model) {
		return nil, nil
	}
	return &tf, nil
}

// SaveTuning records layers, measured at the given batch size and thread
// count, in the tuning file at path for the model whose bytes are model,
// keeping the entries of other batch sizes if the file was made for the
// same model. The file is replaced atomically.
func SaveTuning(path string, model []byte, batch, threads int, layers []LayerFormat) error {
	tf, err := readTuning(path, model)
	if err != nil || tf == nil {
		tf = &TuningFile{Version: tuningVersion, ModelSHA256: modelHash(model)}
	}
	if tf.Batches == nil {
		tf.Batches = map[string]TuningEntry{}
	}
	tf.Batches[strconv.Itoa(batch)] = TuningEntry{Threads: threads, Layers: layers}
	b, err := json.MarshalIndent(tf, "", "  ")
	if err != nil {
		return err
	}
	f, err := atomicfile.Create(path, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	return f.Commit()
}

// LoadTuning returns the formats (for Options.Formats) stored for the
// given batch size in the tuning file at path, or nil if there is no file,
// it was made for other model bytes, or it has no entry for that batch
// size. A file that cannot be read or parsed is an error.
func LoadTuning(path string, model []byte, batch int) (map[string]string, error) {
	tf, err := readTuning(path, model)
	if err != nil || tf == nil {
		return nil, err
	}
	e, ok := tf.Batches[strconv.Itoa(batch)]
	if !ok {
		return nil, nil
	}
	formats := map[string]string{}
	for _, l := range e.Layers {
		if l.Node != "" && l.Format != "" {
			formats[l.Node] = l.Format
		}
	}
	return formats, nil
}

package runtime

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/podaml/poda/tensor"
)

// TestProfileSteps prints the process CPU time per op type for the model named by
// PODA_PROFILE (a testdata/models name) at batch PODA_PROFILE_BATCH.
func TestProfileSteps(t *testing.T) {
	name := os.Getenv("PODA_PROFILE")
	if name == "" {
		t.Skip("set PODA_PROFILE=<model> to profile")
	}
	s, m := loadSession(t, filepath.Join(modelsDir, name+".onnx"))
	batch := 1
	if v := os.Getenv("PODA_PROFILE_BATCH"); v != "" {
		for _, c := range v {
			batch = batch*10 + int(c-'0')
		}
		batch -= 1 * pow10(len(v))
	}
	in := randomInput(t, m, s.InputNames()[0], batch)
	ins := []*tensor.Tensor{in}
	if _, err := s.Run(context.Background(), map[string]*tensor.Tensor{s.InputNames()[0]: in}); err != nil {
		t.Fatal(err)
	}
	p, _ := s.planFor(ins)
	a := p.newArena()
	a.t[p.inputs[0]] = *in
	for _, si := range p.outputs {
		a.t[si] = *newTensor(p.slots[si].dtype, p.slots[si].shape)
	}
	for _, si := range p.rebind {
		p.bindAlias(a, si)
	}
	e := &env{ctx: context.Background(), scratch: a.scratch, threads: p.threads}
	byOp := map[string]time.Duration{}
	const reps = 20
	for r := 0; r < reps; r++ {
		for i := range p.steps {
			st := &p.steps[i]
			t0 := cpuTime()
			if err := st.run(e, a.ins[i], a.outs[i]); err != nil {
				t.Fatal(err)
			}
			key := st.node.node.OpType
			if len(st.out) > 0 && st.out[0] >= 0 {
				key += " " + shapeString(p.slots[st.out[0]].shape)
			}
			byOp[key] += cpuTime() - t0
		}
	}
	var keys []string
	var total time.Duration
	for k, d := range byOp {
		keys = append(keys, k)
		total += d
	}
	sort.Slice(keys, func(i, j int) bool { return byOp[keys[i]] > byOp[keys[j]] })
	t.Logf("%s batch %d: %v per run, arena %d bytes", name, batch, total/reps, p.arenaBytes)
	for _, k := range keys[:min(25, len(keys))] {
		t.Logf("%10v  %s", byOp[k]/reps, k)
	}
}

func pow10(n int) int {
	r := 1
	for ; n > 0; n-- {
		r *= 10
	}
	return r
}

func shapeString(s []int) string {
	b := []byte{'['}
	for i, d := range s {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, []byte(itoa(d))...)
	}
	return string(append(b, ']'))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// idDataset's example i is filled with float32(i) and labelled i%classes.
type idDataset struct {
	n, classes int
	failAt     int // Example fails for this index (-1: never)
	delay      time.Duration
}

func (d *idDataset) Len() int     { return d.n }
func (d *idDataset) Shape() []int { return []int{2, 3} }
func (d *idDataset) Classes() int { return d.classes }
func (d *idDataset) Example(i int, dst []float32) (int, error) {
	if err := checkExample(d, i, dst); err != nil {
		return 0, err
	}
	if i == d.failAt {
		return 0, fmt.Errorf("example %d is broken", i)
	}
	time.Sleep(d.delay)
	for j := range dst {
		dst[j] = float32(i)
	}
	return i % d.classes, nil
}

// epochOrder collects one epoch's dataset indices, checking each batch.
func epochOrder(t *testing.T, l *Loader, d *idDataset) []int {
	t.Helper()
	var got []int
	for {
		b, err := l.Next(context.Background())
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.X.Shape[0] != len(b.Labels) || len(b.X.F32) != len(b.Labels)*6 || len(b.Indices) != len(b.Labels) {
			t.Fatalf("batch shape %v with %d labels, %d values", b.X.Shape, len(b.Labels), len(b.X.F32))
		}
		for k, i := range b.Indices {
			if b.Labels[k] != i%d.classes || b.X.F32[k*6] != float32(i) || b.X.F32[k*6+5] != float32(i) {
				t.Fatalf("batch item %d: index %d label %d value %v", k, i, b.Labels[k], b.X.F32[k*6])
			}
		}
		got = append(got, b.Indices...)
	}
}

func TestLoaderEpochs(t *testing.T) {
	d := &idDataset{n: 103, classes: 7, failAt: -1}
	for _, drop := range []bool{false, true} {
		for _, shuffle := range []bool{false, true} {
			l, err := NewLoader(d, 10, shuffle, 42, drop)
			if err != nil {
				t.Fatal(err)
			}
			var orders [][]int
			for e := range 3 {
				got := epochOrder(t, l, d)
				want := 103
				if drop {
					want = 100
				}
				if len(got) != want {
					t.Fatalf("drop=%v epoch %d: %d examples, want %d", drop, e, len(got), want)
				}
				if ep, idx := l.State(); ep != e+1 || idx != 0 {
					t.Fatalf("state after epoch %d: %d %d", e, ep, idx)
				}
				s := slices.Clone(got)
				slices.Sort(s)
				if !drop {
					for i, v := range s {
						if v != i {
							t.Fatalf("epoch %d does not see every index once: %v", e, s)
						}
					}
				} else if len(slices.Compact(s)) != 100 {
					t.Fatalf("duplicates in epoch %d", e)
				}
				orders = append(orders, got)
			}
			if shuffle {
				if slices.Equal(orders[0], orders[1]) {
					t.Fatal("two epochs have the same shuffle")
				}
				if slices.IsSorted(orders[0]) {
					t.Fatal("shuffled epoch is sorted")
				}
			} else if !slices.IsSorted(orders[0]) || !slices.Equal(orders[0], orders[1]) {
				t.Fatal("unshuffled epochs are not in index order")
			}
			if l.BatchesPerEpoch() != map[bool]int{false: 11, true: 10}[drop] {
				t.Fatalf("BatchesPerEpoch %d", l.BatchesPerEpoch())
			}
			l.Close()
		}
	}
}

func TestLoaderDeterministicAndSeek(t *testing.T) {
	d := &idDataset{n: 57, classes: 5, failAt: -1}
	run := func(seed uint64, epochs int) []int {
		l, _ := NewLoader(d, 8, true, seed, false)
		defer l.Close()
		var all []int
		for range epochs {
			all = append(all, epochOrder(t, l, d)...)
		}
		return all
	}
	a, b, c := run(7, 3), run(7, 3), run(8, 3)
	if !slices.Equal(a, b) {
		t.Fatal("same seed, different order")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds, same order")
	}
	// Stop in the middle of epoch 1, checkpoint, resume in a new loader.
	l, _ := NewLoader(d, 8, true, 7, false)
	epochOrder(t, l, d)
	var first []int
	for range 3 {
		bt, err := l.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		first = append(first, bt.Indices...)
	}
	ep, idx := l.State()
	if ep != 1 || idx != 24 {
		t.Fatalf("state %d %d, want 1 24", ep, idx)
	}
	l.Close()
	r, _ := NewLoader(d, 8, true, 7, false)
	defer r.Close()
	if err := r.Seek(ep, idx); err != nil {
		t.Fatal(err)
	}
	rest := epochOrder(t, r, d)
	if got := append(first, rest...); !slices.Equal(got, a[57:114]) {
		t.Fatalf("resumed epoch differs:\n got %v\nwant %v", got, a[57:114])
	}
	if e2 := epochOrder(t, r, d); !slices.Equal(e2, a[114:]) {
		t.Fatal("epoch after the resumed one differs")
	}
	// Seek backwards on a running loader, and to the end of an epoch.
	if err := r.Seek(0, 0); err != nil {
		t.Fatal(err)
	}
	if e0 := epochOrder(t, r, d); !slices.Equal(e0, a[:57]) {
		t.Fatal("seek to 0 0 does not replay epoch 0")
	}
	r.Seek(5, 57)
	if _, err := r.Next(context.Background()); err != io.EOF {
		t.Fatalf("seek to the end: %v", err)
	}
	for _, bad := range [][2]int{{-1, 0}, {0, -1}, {0, 58}} {
		if err := r.Seek(bad[0], bad[1]); err == nil {
			t.Errorf("Seek%v accepted", bad)
		}
	}
}

func TestLoaderErrorsAndCancel(t *testing.T) {
	d := &idDataset{n: 20, classes: 3, failAt: 13}
	l, _ := NewLoader(d, 4, false, 0, false)
	for i := 0; i < 3; i++ {
		if _, err := l.Next(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := l.Next(context.Background())
	if err == nil || err.Error() != "example 13 is broken" {
		t.Fatalf("err = %v", err)
	}
	if ep, idx := l.State(); ep != 0 || idx != 12 {
		t.Fatalf("state after error %d %d", ep, idx)
	}
	d.failAt = -1 // fixed: retry resumes at the failed batch
	b, err := l.Next(context.Background())
	if err != nil || b.Index != 12 || b.Indices[0] != 12 {
		t.Fatalf("retry: %v %+v", err, b)
	}
	l.Close()
	if _, err := l.Next(context.Background()); err == nil {
		t.Fatal("Next after Close succeeded")
	}

	slow := &idDataset{n: 100, classes: 2, failAt: -1, delay: 20 * time.Millisecond}
	l, _ = NewLoader(slow, 50, false, 0, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := l.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancel: %v", err)
	}
	if time.Since(start) > 500*time.Millisecond {
		t.Fatal("Next did not return promptly on cancellation")
	}
	start = time.Now()
	l.Close()
	if time.Since(start) > 200*time.Millisecond {
		t.Fatal("Close waited for the whole batch")
	}

	bad := &badLabel{idDataset{n: 4, classes: 2, failAt: -1}}
	l, _ = NewLoader(bad, 4, false, 0, false)
	if _, err := l.Next(context.Background()); err == nil {
		t.Fatal("label out of range accepted")
	}
	l.Close()

	for _, c := range []struct {
		n, bs int
		drop  bool
	}{{0, 1, false}, {5, 0, false}, {3, 4, true}} {
		if _, err := NewLoader(&idDataset{n: c.n, classes: 1}, c.bs, false, 0, c.drop); err == nil {
			t.Errorf("NewLoader(n=%d, bs=%d, drop=%v) accepted", c.n, c.bs, c.drop)
		}
	}
}

type badLabel struct{ idDataset }

func (b *badLabel) Example(i int, dst []float32) (int, error) { return 5, nil }

// Steady-state iteration does not allocate.
func TestLoaderNoAllocs(t *testing.T) {
	x := make([]float32, 1000*6)
	y := make([]int, 1000)
	m, _ := NewMemory(x, y, []int{2, 3}, 1)
	l, _ := NewLoader(m, 10, true, 1, false)
	defer l.Close()
	ctx := context.Background()
	next := func() {
		if _, err := l.Next(ctx); err == io.EOF {
			l.Next(ctx)
		}
	}
	for range 5 {
		next()
	}
	// Epoch boundaries reshuffle in place; allow a little slack for the
	// runtime (goroutine wake-ups).
	if a := testing.AllocsPerRun(500, next); a > 0.1 {
		t.Fatalf("%v allocations per batch", a)
	}
}

// countDataset counts Example calls.
type countDataset struct {
	idDataset
	calls atomic.Int64
}

func (c *countDataset) Example(i int, dst []float32) (int, error) {
	c.calls.Add(1)
	return c.idDataset.Example(i, dst)
}

// The loader fills the next batches while the caller holds the current one.
func TestLoaderPrefetchOverlaps(t *testing.T) {
	d := &countDataset{idDataset: idDataset{n: 100, classes: 2, failAt: -1}}
	l, _ := NewLoader(d, 10, false, 0, false)
	defer l.Close()
	b, err := l.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Without further calls to Next, DefaultPrefetch more batches get loaded.
	want := int64(10 * (1 + DefaultPrefetch))
	deadline := time.Now().Add(5 * time.Second)
	for d.calls.Load() < want && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if got := d.calls.Load(); got != want {
		t.Fatalf("%d examples loaded while the caller holds batch 0, want %d", got, want)
	}
	// The held batch was not overwritten by the prefetching.
	for k, i := range b.Indices {
		if b.X.F32[k*6] != float32(i) {
			t.Fatalf("held batch changed: item %d = %v", k, b.X.F32[k*6])
		}
	}
}

func BenchmarkLoaderMemory(b *testing.B) {
	x := make([]float32, 10000*784)
	y := make([]int, 10000)
	m, _ := NewMemory(x, y, []int{1, 28, 28}, 1)
	l, _ := NewLoader(m, 64, true, 1, false)
	defer l.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := l.Next(ctx); err == io.EOF {
			l.Next(ctx)
		}
	}
}

// Several fill workers give the same batches as one.
func TestLoaderWorkers(t *testing.T) {
	d := &idDataset{n: 103, classes: 7, failAt: -1}
	one, _ := NewLoader(d, 10, true, 3, false)
	many, _ := NewLoader(d, 10, true, 3, false)
	if err := many.SetWorkers(4); err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	defer many.Close()
	for range 2 {
		a, b := epochOrder(t, one, d), epochOrder(t, many, d)
		if !slices.Equal(a, b) {
			t.Fatal("4 workers give a different order")
		}
	}
	if err := many.SetWorkers(2); err == nil {
		t.Error("SetWorkers after start accepted")
	}
	// The earliest failing example of a batch is reported.
	f := &idDataset{n: 40, classes: 2, failAt: -1}
	l, _ := NewLoader(f, 20, false, 0, false)
	l.SetWorkers(3)
	defer l.Close()
	if _, err := l.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	l.Next(context.Background()) // EOF
	l.Seek(0, 0)                 // stops the prefetching before the data set changes
	f.failAt = 5
	if _, err := l.Next(context.Background()); err == nil || err.Error() != "example 5 is broken" {
		t.Fatalf("err = %v", err)
	}
}

package data

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/podaml/poda/tensor"
)

// DefaultPrefetch is how many batches a Loader prepares ahead of the caller.
const DefaultPrefetch = 2

// Batch is one batch of examples. Its memory belongs to the Loader and is
// reused: it is valid until the next call to Next, Seek or Close.
type Batch struct {
	X       *tensor.Tensor // float32, shape [B, example shape...]
	Labels  []int          // B labels
	Indices []int          // B data set indices
	Epoch   int            // epoch of the batch
	Index   int            // position of its first example within the epoch
}

// slot is one buffer of the ring.
type slot struct {
	full    []float32
	x       tensor.Tensor
	labels  []int
	indices []int
	epoch   int
	index   int
	err     error
}

// Loader iterates over a data set in batches, epoch after epoch. A
// goroutine fills the next batches into a small ring of reused buffers
// while the caller works on the current one, so steady-state iteration does
// not allocate. The order is fixed by the seed: each epoch's shuffle is
// drawn from PCG(seed, epoch), so any position can be resumed with Seek.
// A Loader is not safe for concurrent use.
type Loader struct {
	ds       Dataset
	bs       int
	shuffle  bool
	dropLast bool
	seed     uint64
	perEpoch int // examples served per epoch
	numel    int
	prefetch int

	epoch, index int // the caller's position: the next batch starts here

	slots   []*slot
	free    chan *slot
	ready   chan *slot
	held    *slot
	stop    chan struct{}
	done    chan struct{}
	halt    atomic.Bool
	running bool
	closed  bool
	perm    []int // owned by the worker while it runs
	rng     rand.PCG
	workers int
	errK    []int   // per fill worker: failed item
	errs    []error // per fill worker: its error
}

// NewLoader returns a loader over ds with batches of batchSize examples,
// shuffled each epoch when shuffle is set. With dropLast a final partial
// batch is skipped; otherwise it is served with fewer examples.
func NewLoader(ds Dataset, batchSize int, shuffle bool, seed uint64, dropLast bool) (*Loader, error) {
	n := ds.Len()
	switch {
	case batchSize <= 0:
		return nil, fmt.Errorf("data: batch size %d must be positive", batchSize)
	case n == 0:
		return nil, fmt.Errorf("data: data set is empty")
	case dropLast && n < batchSize:
		return nil, fmt.Errorf("data: %d examples make no full batch of %d (dropLast)", n, batchSize)
	}
	l := &Loader{ds: ds, bs: batchSize, shuffle: shuffle, dropLast: dropLast, seed: seed,
		numel: tensor.Prod(ds.Shape()), perEpoch: n, prefetch: DefaultPrefetch, workers: 1}
	if dropLast {
		l.perEpoch = n - n%batchSize
	}
	return l, nil
}

// SetPrefetch sets how many batches are prepared ahead (at least 1); the
// ring holds prefetch+1 batch buffers. Call it before the first Next.
func (l *Loader) SetPrefetch(n int) error {
	if n < 1 {
		return fmt.Errorf("data: prefetch %d must be at least 1", n)
	}
	if l.slots != nil {
		return fmt.Errorf("data: SetPrefetch after the first batch")
	}
	l.prefetch = n
	return nil
}

// BatchesPerEpoch is the number of batches in each epoch.
func (l *Loader) BatchesPerEpoch() int { return (l.perEpoch + l.bs - 1) / l.bs }

// State returns the caller's position: the epoch and the number of that
// epoch's examples already returned. Seek(State()) later resumes exactly.
func (l *Loader) State() (epoch, index int) { return l.epoch, l.index }

// Seek moves to a position from State: the next batch starts with example
// index of epoch's order. index may equal the epoch's length, in which case
// Next reports the end of that epoch.
func (l *Loader) Seek(epoch, index int) error {
	if l.closed {
		return errClosed
	}
	if epoch < 0 || index < 0 || index > l.perEpoch {
		return fmt.Errorf("data: seek to epoch %d index %d: want epoch ≥ 0 and index in [0, %d]", epoch, index, l.perEpoch)
	}
	l.stopWorker()
	l.release()
	l.epoch, l.index = epoch, index
	return nil
}

// Next returns the next batch of the current epoch. At the end of an epoch
// it returns io.EOF once, and the following call starts the next epoch. It
// returns ctx.Err() if ctx ends first, and the data set's error if an
// example cannot be read (the position then stays before that batch).
func (l *Loader) Next(ctx context.Context) (Batch, error) {
	if l.closed {
		return Batch{}, errClosed
	}
	l.release()
	if l.index >= l.perEpoch {
		l.epoch, l.index = l.epoch+1, 0
		return Batch{}, io.EOF
	}
	if !l.running {
		l.start()
	}
	var s *slot
	select {
	case <-ctx.Done():
		return Batch{}, ctx.Err()
	case s = <-l.ready:
	}
	if s.err != nil {
		err := s.err
		s.err = nil
		l.free <- s
		l.stopWorker() // it stopped after the error; collect it
		return Batch{}, err
	}
	if s.epoch != l.epoch || s.index != l.index {
		l.free <- s
		l.stopWorker()
		return Batch{}, fmt.Errorf("data: internal error: batch at epoch %d index %d, want %d %d", s.epoch, s.index, l.epoch, l.index)
	}
	l.held = s
	l.index += len(s.labels)
	return Batch{X: &s.x, Labels: s.labels, Indices: s.indices, Epoch: s.epoch, Index: s.index}, nil
}

// Close stops the prefetch goroutine. The loader cannot be used afterwards.
func (l *Loader) Close() error {
	if !l.closed {
		l.stopWorker()
		l.release()
		l.closed = true
	}
	return nil
}

// release gives the caller's batch buffer back to the ring.
func (l *Loader) release() {
	if l.held != nil {
		l.free <- l.held // never blocks: free holds every slot
		l.held = nil
	}
}

func (l *Loader) start() {
	if l.slots == nil {
		k := l.prefetch + 1
		l.free = make(chan *slot, k)
		l.ready = make(chan *slot, k)
		l.perm = make([]int, l.ds.Len())
		shape := append([]int{l.bs}, l.ds.Shape()...)
		for range k {
			s := &slot{full: make([]float32, l.bs*l.numel), labels: make([]int, l.bs), indices: make([]int, l.bs)}
			s.x = tensor.Tensor{DType: tensor.Float, Shape: append([]int(nil), shape...)}
			l.slots = append(l.slots, s)
			l.free <- s
		}
	}
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	l.halt.Store(false)
	l.running = true
	go l.work(l.epoch, l.index, l.stop, l.done)
}

// stopWorker stops the goroutine and returns every prefetched buffer to
// the free list.
func (l *Loader) stopWorker() {
	if !l.running {
		return
	}
	l.halt.Store(true)
	close(l.stop)
	<-l.done
	l.running = false
	for {
		select {
		case s := <-l.ready:
			s.err = nil
			l.free <- s
		default:
			return
		}
	}
}

// order fills l.perm with epoch's order.
func (l *Loader) order(epoch int) {
	if l.shuffle {
		permute(l.perm, &l.rng, l.seed, uint64(epoch))
		return
	}
	for i := range l.perm {
		l.perm[i] = i
	}
}

// work fills batches from (epoch, index) on until stopped or an error.
func (l *Loader) work(epoch, index int, stop, done chan struct{}) {
	defer close(done)
	l.order(epoch)
	for {
		if index >= l.perEpoch {
			epoch, index = epoch+1, 0
			l.order(epoch)
		}
		var s *slot
		select {
		case s = <-l.free:
		case <-stop:
			return
		}
		b := min(l.bs, l.perEpoch-index)
		s.epoch, s.index = epoch, index
		s.labels = s.labels[:b]
		s.indices = s.indices[:b]
		s.x.Shape[0] = b
		s.x.F32 = s.full[:b*l.numel]
		if !l.fill(s, index, b) {
			l.free <- s
			return
		}
		failed := s.err != nil
		l.ready <- s // never blocks: ready holds every slot
		if failed {
			return
		}
		index += b
	}
}

// fill loads the b examples of s starting at index of the epoch's order,
// on l.workers goroutines. It reports false if the loader is stopping; a
// data set error is left in s.err (the one of the earliest example).
func (l *Loader) fill(s *slot, index, b int) bool {
	for k := range b {
		s.indices[k] = l.perm[index+k]
	}
	w := min(l.workers, b)
	if w <= 1 {
		k, err := l.fillPart(s, 0, 1, b)
		if k < 0 {
			return false
		}
		s.err = err
		return true
	}
	var wg sync.WaitGroup
	ks := l.errK[:w]
	errs := l.errs[:w]
	for j := 1; j < w; j++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ks[j], errs[j] = l.fillPart(s, j, w, b)
		}()
	}
	ks[0], errs[0] = l.fillPart(s, 0, w, b)
	wg.Wait()
	first := b
	for j := range w {
		if ks[j] < 0 {
			return false
		}
		if errs[j] != nil && ks[j] < first {
			first, s.err = ks[j], errs[j]
		}
		errs[j] = nil
	}
	return true
}

// fillPart loads items k = start, start+step, ... < b of s. It returns the
// item that failed and its error, b and nil when all loaded, or -1 when the
// loader is stopping.
func (l *Loader) fillPart(s *slot, start, step, b int) (int, error) {
	for k := start; k < b; k += step {
		if l.halt.Load() {
			return -1, nil
		}
		i := s.indices[k]
		lab, err := l.ds.Example(i, s.x.F32[k*l.numel:(k+1)*l.numel])
		if err == nil && (lab < 0 || lab >= l.ds.Classes()) {
			err = fmt.Errorf("data: example %d has label %d, outside [0, %d)", i, lab, l.ds.Classes())
		}
		if err != nil {
			return k, err
		}
		s.labels[k] = lab
	}
	return b, nil
}

// SetWorkers sets how many goroutines load the examples of one batch (at
// least 1, the default). More help data sets that decode files, such as
// ImageFolder; Example must then be safe for concurrent use, as it is for
// every data set in this package. Call it before the first Next.
func (l *Loader) SetWorkers(n int) error {
	if n < 1 {
		return fmt.Errorf("data: workers %d must be at least 1", n)
	}
	if l.slots != nil {
		return fmt.Errorf("data: SetWorkers after the first batch")
	}
	l.workers = n
	l.errK = make([]int, n)
	l.errs = make([]error, n)
	return nil
}

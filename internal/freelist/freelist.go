// Package freelist recycles per-call state of Poda's runtime: the
// contexts (with their packing buffers) and jobs of parallel products and
// loops, and the arenas of Session.Run.
//
// A sync.Pool would lose them: it hands an item back only on the
// processor that put it there (other processors may take only what
// overflowed into its shared queue), and callers that wait on the worker
// pool move between processors, so a steady-state product missed now and
// then and allocated a new context, packing buffers and all; the
// collector empties a sync.Pool too. A List keeps what it is given: it
// grows to the most items ever in use at once and stays there.
package freelist

import "sync"

// List is a stack of idle *T under a mutex. The zero value is empty and
// ready to use.
type List[T any] struct {
	// New, if not nil, makes an item when the list is empty; else Get
	// returns a new zero T.
	New func() *T

	mu    sync.Mutex
	items []*T
}

// Get returns an idle item, or a new one.
func (l *List[T]) Get() *T {
	l.mu.Lock()
	if n := len(l.items); n > 0 {
		t := l.items[n-1]
		l.items[n-1] = nil
		l.items = l.items[:n-1]
		l.mu.Unlock()
		return t
	}
	l.mu.Unlock()
	if l.New != nil {
		return l.New()
	}
	return new(T)
}

// Put returns t to the list; the caller must not use it afterwards.
func (l *List[T]) Put(t *T) {
	l.mu.Lock()
	l.items = append(l.items, t)
	l.mu.Unlock()
}

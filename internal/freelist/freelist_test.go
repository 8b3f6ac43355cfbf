package freelist

import (
	"sync"
	"testing"
)

func TestListReusesItems(t *testing.T) {
	var l List[[4]int]
	a := l.Get()
	if *a != [4]int{} {
		t.Fatalf("new item %v, want zero", *a)
	}
	a[0] = 7
	l.Put(a)
	if b := l.Get(); b != a || b[0] != 7 {
		t.Fatalf("Get after Put returned %p %v, want the item put (%p)", b, *b, a)
	}
	if c := l.Get(); c == a {
		t.Fatal("an item handed out twice")
	}
	made := 0
	l.New = func() *[4]int { made++; return &[4]int{1, 2, 3, 4} }
	if d := l.Get(); made != 1 || d[3] != 4 {
		t.Fatalf("empty list with New: %v, New called %d times", *d, made)
	}
	l.Put(a)
	if e := l.Get(); e != a || made != 1 {
		t.Fatalf("Get with an idle item called New (%d) or returned %p, not %p", made, e, a)
	}
}

// TestListConcurrent: items in use at once are distinct, and after the
// goroutines are done the list holds at most as many as were in use.
func TestListConcurrent(t *testing.T) {
	var l List[int]
	var mu sync.Mutex
	inUse := map[*int]bool{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				p := l.Get()
				mu.Lock()
				if inUse[p] {
					t.Error("an item in use handed out again")
				}
				inUse[p] = true
				mu.Unlock()
				mu.Lock()
				delete(inUse, p)
				mu.Unlock()
				l.Put(p)
			}
		}()
	}
	wg.Wait()
	if n := len(l.items); n > 8 {
		t.Errorf("%d idle items after 8 goroutines", n)
	}
}

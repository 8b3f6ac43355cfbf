package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/podaml/poda/train"
	"golang.org/x/term"
)

// progress prints training steps: a bar redrawn in place on a terminal,
// plain lines (every few seconds) otherwise.
type progress struct {
	w      io.Writer
	tty    bool
	total  int
	start  time.Time
	last   time.Time
	loss   float64 // running mean
	acc    float64 // running mean of the batch accuracy
	n      int
	prefix string
}

func newProgress(w io.Writer, total int, prefix string) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, total: total, start: time.Now(), prefix: prefix}
}

// step records one optimizer step.
func (p *progress) step(si train.StepInfo) {
	p.n++
	acc := float64(si.Correct) / float64(max(1, si.Batch))
	if p.n == 1 {
		p.loss, p.acc = si.Loss, acc
	} else {
		p.loss += (si.Loss - p.loss) * 0.05
		p.acc += (acc - p.acc) * 0.05
	}
	now := time.Now()
	interval := 5 * time.Second
	if p.tty {
		interval = 100 * time.Millisecond
	}
	if si.Step != p.total && now.Sub(p.last) < interval {
		return
	}
	p.last = now
	elapsed := now.Sub(p.start)
	eta := time.Duration(0)
	if si.Step > 0 && p.total > si.Step {
		eta = time.Duration(float64(elapsed) / float64(si.Step) * float64(p.total-si.Step))
	}
	line := fmt.Sprintf("%s step %d/%d epoch %d loss %.4f acc %.1f%% lr %.3g eta %s", p.prefix, si.Step, p.total, si.Epoch+1, p.loss, 100*p.acc, si.LR, eta.Round(time.Second))
	if p.tty {
		const width = 24
		done := width
		if p.total > 0 {
			done = width * si.Step / p.total
		}
		bar := strings.Repeat("█", done) + strings.Repeat("·", width-done)
		fmt.Fprintf(p.w, "\r%s %s\x1b[K", bar, line)
		if si.Step >= p.total {
			fmt.Fprintln(p.w)
		}
		return
	}
	fmt.Fprintln(p.w, line)
}

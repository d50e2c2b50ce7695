// Package progress shows a run over many machines (push, apply) as it goes:
// a line per machine as it ends ("[3/12] ..."), and, on a terminal, a bar
// kept on the last line and redrawn after every machine. Elsewhere the
// output is the plain lines, for logs and CI.
package progress

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Bar counts the machines of one run. Its methods may be called from
// several goroutines. A Bar with a nil writer prints nothing.
type Bar struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	total    int
	n        int
	failed   int
}

// Width is the bar's width in cells.
const Width = 30

// New returns a Bar that writes to w; terminal keeps the bar on w's last
// line.
func New(w io.Writer, terminal bool) *Bar { return &Bar{w: w, terminal: terminal} }

// Start begins a run over total machines and draws the empty bar.
func (b *Bar) Start(total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.total, b.n, b.failed = total, 0, 0
	b.draw()
}

// Done records that one machine ended, failed or not, and prints its line
// with the count: "[n/total] line".
func (b *Bar) Done(line string, failed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	if failed {
		b.failed++
	}
	b.print(fmt.Sprintf("[%d/%d] %s", b.n, b.total, line))
}

// Note prints a line that ends no machine (a retry, the order of a run).
func (b *Bar) Note(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.print(line)
}

// Finish clears the bar from a terminal after the last machine.
func (b *Bar) Finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.w != nil && b.terminal && b.total > 0 {
		fmt.Fprint(b.w, "\r\033[K")
	}
}

// print writes a line above the bar.
func (b *Bar) print(s string) {
	if b.w == nil {
		return
	}
	if b.terminal {
		fmt.Fprint(b.w, "\r\033[K")
	}
	fmt.Fprintln(b.w, s)
	b.draw()
}

// draw redraws the bar on a terminal.
func (b *Bar) draw() {
	if b.w == nil || !b.terminal || b.total == 0 {
		return
	}
	filled := b.n * Width / b.total
	failed := ""
	if b.failed > 0 {
		failed = fmt.Sprintf(", %d failed", b.failed)
	}
	fmt.Fprintf(b.w, "\r\033[K[%s%s] %d/%d%s", strings.Repeat("#", filled), strings.Repeat(".", Width-filled), b.n, b.total, failed)
}

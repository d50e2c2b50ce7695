package packet

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

// Progress hears about a push as it runs. Its methods may be called from
// several goroutines.
type Progress interface {
	Start(total int)   // before the first change
	Device(o Outcome)  // one device finished, done or not
	Retry(n RetryNote) // a call is about to be tried again
	Finish()           // after the last change
}

type nopProgress struct{}

func (nopProgress) Start(int)       {}
func (nopProgress) Device(Outcome)  {}
func (nopProgress) Retry(RetryNote) {}
func (nopProgress) Finish()         {}

// NewProgress writes one line per device to w ("[3/6] created agent-1
// (id)"), and a line per retry. On a terminal it keeps a progress bar on the
// last line, redrawn after every device; elsewhere the output is plain lines.
func NewProgress(w io.Writer, terminal bool) Progress {
	return &lineProgress{w: w, terminal: terminal}
}

type lineProgress struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	total    int
	n        int
	failed   int
}

// barWidth is the progress bar's width in cells.
const barWidth = 30

func (p *lineProgress) Start(total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total, p.n, p.failed = total, 0, 0
	p.bar()
}

func (p *lineProgress) Device(o Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	var line string
	switch {
	case o.Err != nil:
		p.failed++
		line = fmt.Sprintf("FAILED %s %s: %v", o.Action, o.Hostname, o.Err)
	case o.Action == ActionCreate:
		line = fmt.Sprintf("created %s (%s)", o.Hostname, o.DeviceID)
	case o.Action == ActionAdopt:
		line = fmt.Sprintf("adopted %s (%s)", o.Hostname, o.DeviceID)
	default:
		line = fmt.Sprintf("updated %s (%s)", o.Hostname, o.DeviceID)
	}
	p.line(fmt.Sprintf("[%d/%d] %s", p.n, p.total, line))
}

func (p *lineProgress) Retry(n RetryNote) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.line(fmt.Sprintf("  retry %s: %s; attempt %d failed, next in %s", n.What, n.Reason, n.Attempt, n.Wait.Round(1e6)))
}

func (p *lineProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal && p.total > 0 {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// line prints a line above the bar.
func (p *lineProgress) line(s string) {
	if p.terminal {
		fmt.Fprint(p.w, "\r\033[K")
	}
	fmt.Fprintln(p.w, s)
	p.bar()
}

// bar redraws the bar on a terminal.
func (p *lineProgress) bar() {
	if !p.terminal || p.total == 0 {
		return
	}
	filled := p.n * barWidth / p.total
	failed := ""
	if p.failed > 0 {
		failed = fmt.Sprintf(", %d failed", p.failed)
	}
	fmt.Fprintf(p.w, "\r\033[K[%s%s] %d/%d%s", strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), p.n, p.total, failed)
}

package packet

import (
	"fmt"
	"io"

	"github.com/rampart-cluster/rampart/internal/progress"
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
// (id)"), and a line per retry, through internal/progress: on a terminal a
// bar stays on the last line.
func NewProgress(w io.Writer, terminal bool) Progress {
	return &lineProgress{bar: progress.New(w, terminal)}
}

type lineProgress struct{ bar *progress.Bar }

func (p *lineProgress) Start(total int) { p.bar.Start(total) }

func (p *lineProgress) Device(o Outcome) {
	var line string
	switch {
	case o.Err != nil:
		line = fmt.Sprintf("FAILED %s %s: %v", o.Action, o.Hostname, o.Err)
	case o.Action == ActionCreate:
		line = fmt.Sprintf("created %s (%s)", o.Hostname, o.DeviceID)
	case o.Action == ActionAdopt:
		line = fmt.Sprintf("adopted %s (%s)", o.Hostname, o.DeviceID)
	default:
		line = fmt.Sprintf("updated %s (%s)", o.Hostname, o.DeviceID)
	}
	p.bar.Done(line, o.Err != nil)
}

func (p *lineProgress) Retry(n RetryNote) {
	p.bar.Note(fmt.Sprintf("  retry %s: %s; attempt %d failed, next in %s", n.What, n.Reason, n.Attempt, n.Wait.Round(1e6)))
}

func (p *lineProgress) Finish() { p.bar.Finish() }

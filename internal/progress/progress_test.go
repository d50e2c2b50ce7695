package progress

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestBar: plain lines off a terminal; on a terminal every line is printed
// above a bar that counts the done and the failed, and the bar is cleared
// at the end; machines ending at once from many goroutines are each
// counted once.
func TestBar(t *testing.T) {
	var plain bytes.Buffer
	b := New(&plain, false)
	b.Start(2)
	b.Done("w1: applied", false)
	b.Note("  retry w2")
	b.Done("w2: failed", true)
	b.Finish()
	if want := "[1/2] w1: applied\n  retry w2\n[2/2] w2: failed\n"; plain.String() != want {
		t.Errorf("plain:\n%q\nwant\n%q", plain.String(), want)
	}

	var term bytes.Buffer
	b = New(&term, true)
	b.Start(4)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() { defer wg.Done(); b.Done(fmt.Sprintf("n%d", i), i%2 == 0) }()
	}
	wg.Wait()
	b.Finish()
	out := term.String()
	for _, w := range []string{"\r\033[K[" + strings.Repeat(".", Width) + "] 0/4", "[4/4] n", "[" + strings.Repeat("#", Width) + "] 4/4, 2 failed"} {
		if !strings.Contains(out, w) {
			t.Errorf("terminal output lacks %q:\n%q", w, out)
		}
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("the bar is not cleared at the end: %q", out)
	}

	New(nil, true).Done("nothing", false) // a nil writer prints nothing and does not panic
}

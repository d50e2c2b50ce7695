package apply

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-cluster/rampart/generator/gen"
)

// plan is what applying to one node changes.
type plan struct {
	Write  []File   // files that differ from the node's (contents or mode), or that it lacks
	Remove []string // files of the firewall directory the tree no longer has
	// Ruleset lists, by meaning, how the running ruleset differs from the
	// tree's (judge.semantic): members added and removed, rules, chains, sets,
	// jumps. A ruleset that differs while the files do not (flushed by
	// hand, or a failed load) is loaded again.
	Ruleset []string
	// Added are the addresses the node's member sets gain: nodes that
	// join the cluster.
	Added []string
}

// Empty reports whether the node runs the tree already.
func (p *plan) Empty() bool {
	return len(p.Write) == 0 && len(p.Remove) == 0 && len(p.Ruleset) == 0
}

// Lines are the plan as people read it: the ruleset by meaning, then the
// unit, the certificates, the script, and other files by path.
func (p *plan) Lines(n node) []string {
	out := slices.Clone(p.Ruleset)
	var certs, fw, other []string
	unit := false
	for _, f := range p.Write {
		switch {
		case f.Path == path.Join("/etc/systemd/system", n.Unit):
			unit = true
		case strings.HasPrefix(f.Path, "/etc/ssl/certs/etcd/"):
			certs = append(certs, path.Base(f.Path))
		case strings.HasPrefix(f.Path, n.FWDir+"/"):
			fw = append(fw, path.Base(f.Path))
		case f.Path == n.Script:
			other = append(other, "script")
		default:
			other = append(other, f.Path)
		}
	}
	if unit {
		out = append(out, "unit")
	}
	if len(certs) > 0 {
		out = append(out, "certificates: "+strings.Join(certs, ", "))
	}
	if len(fw) > 0 {
		out = append(out, "firewall files: "+strings.Join(fw, ", "))
	}
	out = append(out, other...)
	for _, r := range p.Remove {
		out = append(out, "remove "+r)
	}
	return out
}

// filePlan compares the files with the node's: those to write, and the
// files of the firewall directory to remove.
func filePlan(files []File, l *liveState) *plan {
	p := &plan{}
	want := map[string]bool{}
	for _, f := range files {
		want[f.Path] = true
		sum := sha256.Sum256(f.Data)
		have, ok := l.Files[f.Path]
		if !ok || have.SHA256 != hex.EncodeToString(sum[:]) || !sameMode(have.Mode, f) {
			p.Write = append(p.Write, f)
		}
	}
	for _, present := range l.Present {
		if !want[present] && strings.HasPrefix(present, gen.FirewallDir+"/") && safePath.MatchString(present) {
			p.Remove = append(p.Remove, present)
		}
	}
	return p
}

func sameMode(have string, f File) bool {
	m, err := strconv.ParseUint(have, 8, 32)
	return err == nil && fmt.Sprintf("%o", m) == fmt.Sprintf("%o", uint32(f.Mode.Perm()))
}

package apply

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strings"
)

// liveState is what apply read on a node before it plans: the files rampart
// owns there (by sha256 and mode, so that keys never travel back), the
// rollbacks still armed, and the running ruleset as the save commands
// print it.
type liveState struct {
	Systemd bool                // systemd runs the node
	Armed   []string            // IDs of rollbacks armed and not yet confirmed or fired
	Files   map[string]liveFile // by path; a missing file is absent
	Present []string            // every file of the firewall directory
	// Rulesets hold the output of each save command, by command
	// ("iptables-save", "ip6tables-save", "ipset save", "nft list ruleset").
	Rulesets map[string][]byte
}

type liveFile struct {
	SHA256 string
	Mode   string // octal, as stat prints it
}

// saveCommands are the commands that print a backend's running ruleset.
var saveCommands = map[string][][]string{
	"iptables": {{"iptables-save"}, {"ip6tables-save"}, {"ipset", "save"}},
	"nftables": {{"nft", "list", "ruleset"}},
}

// readLive reads a node's files and ruleset in one session.
func readLive(ctx context.Context, c *Conn, n node, backend string, files []File) (*liveState, error) {
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	token := newID()
	out, err := c.Script(ctx, n.readScript(paths, token, saveCommands[backend]))
	if err != nil {
		return nil, fmt.Errorf("reading the node's files and ruleset: %w", err)
	}
	l := &liveState{Files: map[string]liveFile{}, Rulesets: map[string][]byte{}}
	sums, modes := map[string]string{}, map[string]string{}
	begin, end := "@@"+token+" begin ", "@@"+token+" end "
	var save string // the save command whose output is being read
	var saved bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 64*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if save != "" {
			if status, ok := strings.CutPrefix(line, end); ok {
				if status != "0" {
					return nil, fmt.Errorf("%s: exit status %s", save, status)
				}
				l.Rulesets[save] = bytes.Clone(saved.Bytes())
				save = ""
				saved.Reset()
				continue
			}
			saved.WriteString(line + "\n")
			continue
		}
		if cmd, ok := strings.CutPrefix(line, begin); ok {
			save = cmd
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && f[0] == "systemd":
			l.Systemd = f[1] == "yes"
		case len(f) == 2 && f[0] == "armed":
			l.Armed = append(l.Armed, f[1])
		case len(f) == 3 && f[0] == "sum":
			sums[f[2]] = f[1]
		case len(f) == 3 && f[0] == "mode":
			modes[f[2]] = f[1]
		case len(f) == 2 && f[0] == "present":
			l.Present = append(l.Present, f[1])
		default:
			return nil, fmt.Errorf("reading the node's files: unexpected line %q", line)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, argv := range saveCommands[backend] {
		if _, ok := l.Rulesets[strings.Join(argv, " ")]; !ok {
			return nil, fmt.Errorf("reading the node's ruleset: no output of %s", strings.Join(argv, " "))
		}
	}
	for p, sum := range sums {
		l.Files[p] = liveFile{SHA256: sum, Mode: modes[p]}
	}
	return l, nil
}

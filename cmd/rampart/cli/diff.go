package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/rampart-cluster/rampart/generator/policy"
	"github.com/rampart-cluster/rampart/generator/review"
	"github.com/rampart-cluster/rampart/generator/spec"
)

func newDiff() *cobra.Command {
	var file, base, rev, format string
	var exitCode bool
	c := &cobra.Command{
		Use:   "diff [-f] cluster.yaml (--base old.yaml | --git REV) [--format text|markdown|json] [--exit-code]",
		Short: "Show which connections a change of the spec opens or closes, with the spec lines on both sides",
		Long: `diff compares who reaches what (the matrix) between an older spec and the one
given with -f: the old spec is another file (--base) or the same file as it
was at a git revision (--git REV, read with git show REV:path). It lists the
cells that opened or closed, per family, each with the rule that decides it
now and the one that decided it before, and the addresses each source gained
or lost. A change that only reorders or reformats the spec gives an empty
diff. --format markdown writes a pull-request comment.

With --exit-code, exit 1 when anything opened: a cell that opened, or a source
that gained addresses from which it reaches something. Spec errors exit 1 too.`,
		Args: specArg(&file),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(review.Formats, format) {
				return usageError("--format must be text, markdown or json, not %q", format)
			}
			if (base == "") == (rev == "") {
				return usageError("give the old spec with --base FILE or --git REV (one of them)")
			}
			if file == "" {
				return usageError("-f is required: the cluster spec to read")
			}
			var old *spec.Spec
			var err error
			if base != "" {
				old, err = loadSpec(base)
			} else {
				old, err = loadAtRevision(file, rev)
			}
			if err != nil {
				return err
			}
			now, err := loadSpec(file)
			if err != nil {
				return err
			}
			d := review.Compare(review.SideOf(policy.Compile(old)), review.SideOf(policy.Compile(now)))
			if err := d.Write(cmd.OutOrStdout(), format); err != nil {
				return err
			}
			if exitCode && d.Opened() {
				return &exitError{code: ExitInvalid, err: errors.New("")}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&file, "file", "f", "", "the cluster spec as it is now (required)")
	c.Flags().StringVar(&base, "base", "", "the old spec, another file")
	c.Flags().StringVar(&rev, "git", "", "the old spec: the same file at this git revision")
	formatFlags(c, &format, review.FormatText, "text, markdown or json")
	c.Flags().BoolVar(&exitCode, "exit-code", false, "exit 1 when anything opened")
	return c
}

// loadAtRevision reads the spec as it was at a git revision, with git itself
// (git show REV:./file, run in the file's directory, so the path is the
// file's own, wherever the repository's top is). Positions name the file
// REV:path.
func loadAtRevision(file, rev string) (*spec.Spec, error) {
	if strings.HasPrefix(rev, "-") {
		return nil, usageError("--git %q is not a revision", rev)
	}
	dir, name := filepath.Split(file)
	if dir == "" {
		dir = "."
	}
	cmd := exec.Command("git", "-C", dir, "show", rev+":./"+name)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &exitError{code: ExitInvalid, err: fmt.Errorf("git show %s:./%s (in %s): %v: %s", rev, name, dir, err, strings.TrimSpace(stderr.String()))}
	}
	label := rev + ":" + file
	// Its snippets are those of the same revision.
	snippet := func(p string) ([]byte, error) {
		out, err := exec.Command("git", "-C", dir, "show", rev+":./"+p).Output()
		if err != nil {
			return nil, fmt.Errorf("git show %s:./%s (in %s): %v", rev, p, dir, err)
		}
		return out, nil
	}
	s, err := spec.ParseWith(label, stdout.Bytes(), snippet)
	if err != nil {
		return nil, specProblems(err, label)
	}
	return s, nil
}

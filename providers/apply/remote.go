package apply

import (
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// RemoteDir is where apply keeps its state on a node (root only, 0700):
// next/ the generation being applied, prev/ the one it replaces (kept
// after a confirmed apply, for a rollback by hand), the lists of what
// they hold, rollback.sh, the marker armed.ID while a rollback is armed
// (confirmed.ID, rolledback.ID after), and rollback.log.
const RemoteDir = "/var/lib/rampart/apply"

// Exit statuses of the install script.
const (
	exitStage     = 89 // the new generation could not be staged: nothing was installed
	exitNotArmed  = 90 // another apply's rollback is armed: nothing was installed
	exitInstall   = 91 // a file could not be put in place
	exitActivate  = 92 // the firewall did not load
	exitArmFailed = 93 // the rollback could not be armed: nothing was installed
)

// node is what the remote scripts need to know of a node's OS.
type node struct {
	Script string // the firewall script's path (gen.ScriptPath)
	Unit   string // the firewall unit (gen.FirewallUnit)
	FWDir  string // the firewall directory (gen.FirewallDir)
}

// activate is the sh that loads the files in place: with systemd the unit
// is restarted (after a daemon-reload, the unit may have changed), and its
// journal is shown when it fails; without systemd the script runs itself.
func (n node) activate() string {
	return fmt.Sprintf(`if [ -d /run/systemd/system ]; then
	systemctl daemon-reload && systemctl restart %[1]s || { journalctl -u %[1]s -n 30 --no-pager -o cat >&2; false; }
else
	%[2]s
fi`, n.Unit, n.Script)
}

// readScript prints, one line each: whether systemd runs the node, every
// rollback still armed, the sha256 and the mode of each path that exists,
// and every file of the firewall directory; then the output of each save
// command between lines "@@TOKEN begin COMMAND" and "@@TOKEN end STATUS".
// One session, and a handful of processes: a node's read is cheap.
func (n node) readScript(paths []string, token string, save [][]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -u\nD=%s\n", RemoteDir)
	b.WriteString("if [ -d /run/systemd/system ]; then echo 'systemd yes'; else echo 'systemd no'; fi\n")
	b.WriteString("for a in \"$D\"/armed.*; do [ -e \"$a\" ] && echo \"armed ${a##*/armed.}\"; done\n")
	b.WriteString("set --\nfor p in")
	for _, p := range paths {
		b.WriteString(" " + p)
	}
	b.WriteString("; do [ -f \"$p\" ] && set -- \"$@\" \"$p\"; done\n")
	b.WriteString("if [ $# -gt 0 ]; then\n\tsha256sum \"$@\" | sed 's/^/sum /'\n\tstat -c 'mode %a %n' \"$@\"\nfi\n")
	fmt.Fprintf(&b, "for p in %s/*; do [ -f \"$p\" ] && echo \"present $p\"; done\n", n.FWDir)
	for _, argv := range save {
		cmd := strings.Join(argv, " ")
		fmt.Fprintf(&b, "echo '@@%[1]s begin %[2]s'\n%[2]s\necho \"@@%[1]s end $?\"\n", token, cmd)
	}
	b.WriteString("exit 0\n")
	return b.String()
}

// seconds rounds a timeout up to whole seconds, at least one.
func seconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// stageScript puts the new generation under next/ and a copy of what it
// replaces under prev/ (files that did not exist are listed, to be
// removed by a rollback) and writes rollback.sh. It refuses to run while
// a rollback is armed. Nothing outside RemoteDir changes. Every process a
// node starts costs it a fork and an exec, which is most of what apply
// costs a node: the directories are made by one mkdir, the copies' modes
// read by one stat, and a file that is written costs one base64 and, when
// it existed, one cp.
func (n node) stageScript(id string, write []File, remove []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "set -eu\numask 077\nD=%s\nID=%s\n", RemoteDir, id)
	b.WriteString(`install -d -m 700 "$D"
for a in "$D"/armed.*; do if [ -e "$a" ]; then echo "a rollback is armed already: ${a##*/}" >&2; exit 3; fi; done
rm -rf "$D/next" "$D/prev" "$D"/confirmed.* "$D"/rolledback.* "$D"/rollback.pid.*
: >"$D/next.list"; : >"$D/next.remove"; : >"$D/prev.list"; : >"$D/prev.absent"
`)
	var paths, dirs []string
	for _, f := range write {
		paths = append(paths, f.Path)
	}
	paths = append(paths, remove...)
	for _, p := range paths {
		if d := dir(p); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	b.WriteString(`mkdir -p "$D/next" "$D/prev"`)
	for _, d := range dirs {
		fmt.Fprintf(&b, ` "$D/next%[1]s" "$D/prev%[1]s"`, d)
	}
	b.WriteString("\n")
	for _, f := range write {
		fmt.Fprintf(&b, "base64 -d >\"$D/next%s\" <<'RAMPART_EOF'\n", f.Path)
		enc := base64.StdEncoding.EncodeToString(f.Data)
		for len(enc) > 76 {
			b.WriteString(enc[:76] + "\n")
			enc = enc[76:]
		}
		if enc != "" {
			b.WriteString(enc + "\n")
		}
		fmt.Fprintf(&b, "RAMPART_EOF\necho '%04o %s' >>\"$D/next.list\"\n", f.Mode.Perm(), f.Path)
	}
	for _, p := range remove {
		fmt.Fprintf(&b, "echo '%s' >>\"$D/next.remove\"\n", p)
	}
	// what each path holds now: a copy and its mode in prev/, or listed
	// as absent
	fmt.Fprintf(&b, "set --\nfor p in %s; do\n", strings.Join(paths, " "))
	b.WriteString(`	if [ -f "$p" ]; then
		cp "$p" "$D/prev$p"
		set -- "$@" "$p"
	else
		echo "$p" >>"$D/prev.absent"
	fi
done
[ $# -eq 0 ] || stat -c '%a %n' "$@" >>"$D/prev.list"
`)
	fmt.Fprintf(&b, "cat >\"$D/rollback.sh\" <<'RAMPART_EOF'\n%sRAMPART_EOF\n", n.rollbackScript())
	return b.String()
}

func dir(p string) string { return p[:strings.LastIndex(p, "/")] }

// rollbackScript is rollback.sh: called with the apply's ID (and, when it
// runs detached, the seconds to wait first), it waits for the lock the
// install holds while it loads the firewall (two loads at once would
// trip over each other's temporary sets), takes the armed marker (a
// rename: whichever of the rollback and the confirmation renames it first
// wins), restores the previous generation, removes the files that did not
// exist before, and loads the firewall again.
func (n node) rollbackScript() string {
	return fmt.Sprintf(`#!/bin/sh
# rampart apply: restores the generation an unconfirmed apply replaced.
D=%s
ID=$1
[ -z "${2:-}" ] || sleep "$2"
exec 9>"$D/lock"
flock 9
mv "$D/armed.$ID" "$D/firing.$ID" 2>/dev/null || exit 0
umask 077
exec >>"$D/rollback.log" 2>&1
echo "$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ) apply $ID was not confirmed: restoring the previous generation"
while read -r mode p; do
	mkdir -p "${p%%/*}"
	cp "$D/prev$p" "$p.rampart-old" && chmod "$mode" "$p.rampart-old" && mv -f "$p.rampart-old" "$p"
done <"$D/prev.list"
while read -r p; do rm -f "$p"; done <"$D/prev.absent"
%s
echo "$(date -u +%%Y-%%m-%%dT%%H:%%M:%%SZ) apply $ID rolled back (firewall load exit status $?)"
mv "$D/firing.$ID" "$D/rolledback.$ID"
`, RemoteDir, n.activate())
}

// InstallBudget is how long the install and the firewall load may take
// on a node before the rollback armed ahead of them fires anyway: the
// first timer is armed for --confirm-timeout plus this, before anything is
// installed; once the firewall is loaded, a second one is armed for
// --confirm-timeout and the first one stopped, so the confirmation always
// gets the whole timeout, however long the load took.
const InstallBudget = 2 * time.Minute

// armFunctions are the sh functions that arm and stop the rollback
// timers of apply $ID, named by $1 ("install", "confirm"): a transient
// systemd timer (systemd-run --on-active) where systemd runs the node,
// else a detached process (setsid, without the lock's descriptor) that
// sleeps first.
const armFunctions = `arm() {
	if [ -d /run/systemd/system ] && command -v systemd-run >/dev/null; then
		systemd-run --quiet --unit="rampart-rollback-$ID-$1" --on-active="$2"s --timer-property=AccuracySec=100ms /bin/sh "$D/rollback.sh" "$ID"
	else
		setsid /bin/sh "$D/rollback.sh" "$ID" "$2" </dev/null >/dev/null 2>&1 9>&- &
		echo $! >"$D/rollback.pid.$ID-$1"
	fi
}
stop() {
	if [ -d /run/systemd/system ]; then systemctl stop "rampart-rollback-$ID-$1.timer" 2>/dev/null; fi
	if [ -f "$D/rollback.pid.$ID-$1" ]; then
		read -r rbpid <"$D/rollback.pid.$ID-$1"
		kill -TERM -"$rbpid" 2>/dev/null
		rm -f "$D/rollback.pid.$ID-$1"
	fi
	return 0
}
`

// installScript is install.sh: it takes the node's apply lock, arms the
// rollback (InstallBudget), puts next/ in place, one atomic rename per
// file (install sets the mode as it copies; mkdir only for a directory
// that is missing), removes what the new generation no longer has, loads the
// firewall, and arms the rollback again for the timeout from now. The
// rollback cannot start its work before the load has ended: it waits for
// the lock.
func (n node) installScript(id string, timeout time.Duration) string {
	return fmt.Sprintf(`set -u
umask 077
D=%[1]s
ID=%[2]s
exec 9>"$D/lock"
flock 9
for a in "$D"/armed.*; do if [ -e "$a" ]; then echo "a rollback is armed already: ${a##*/}" >&2; exit %[3]d; fi; done
%[9]secho "$ID" >"$D/armed.$ID"
arm install %[10]d || { rm -f "$D/armed.$ID"; exit %[5]d; }
while read -r mode p; do
	{ [ -d "${p%%/*}" ] || mkdir -p "${p%%/*}"; } && install -m "$mode" "$D/next$p" "$p.rampart-new" && mv -f "$p.rampart-new" "$p" || exit %[6]d
done <"$D/next.list"
while read -r p; do rm -f "$p" || exit %[6]d; done <"$D/next.remove"
%[7]s || exit %[8]d
arm confirm %[4]d || exit %[5]d
stop install
`, RemoteDir, id, exitNotArmed, seconds(timeout), exitArmFailed, exitInstall, n.activate(), exitActivate, armFunctions, seconds(timeout+InstallBudget))
}

// applyScript stages the new generation and install.sh (a failure exits
// exitStage: nothing was installed), then runs install.sh detached from
// the session (setsid, its output in install.log, copied to standard
// error when it fails): a connection that drops halfway does not stop it
// halfway.
func (n node) applyScript(id string, write []File, remove []string, timeout time.Duration) string {
	// not "( ... ) || exit": sh ignores set -e in a list whose status is
	// tested
	return fmt.Sprintf(`(
%[1]scat >"$D/install.sh" <<'RAMPART_EOF'
%[2]sRAMPART_EOF
)
[ $? -eq 0 ] || exit %[3]d
D=%[4]s
setsid -w /bin/sh "$D/install.sh" >"$D/install.log" 2>&1 </dev/null
st=$?
[ $st -eq 0 ] || cat "$D/install.log" >&2
exit $st
`, n.stageScript(id, write, remove), n.installScript(id, timeout), exitStage, RemoteDir)
}

// Outcomes of disarmScript and statusScript.
const (
	outConfirmed  = "confirmed"   // the confirmation renamed the marker first
	outRolledBack = "rolled-back" // the rollback ran to its end
	outFiring     = "firing"      // the rollback is running
	outArmed      = "armed"       // neither happened yet
	outUnknown    = "unknown"     // no marker of this apply at all
)

// disarmScript confirms an apply: it renames the armed marker (a rollback
// that renamed it first wins), stops the timer or the detached process,
// and prints the outcome.
func disarmScript(id string) string {
	return fmt.Sprintf(`D=%s
ID=%s
%sif mv "$D/armed.$ID" "$D/confirmed.$ID" 2>/dev/null; then
	stop install
	stop confirm
	echo %s
	exit 0
fi
%s`, RemoteDir, id, armFunctions, outConfirmed, statusTail)
}

// statusScript prints what became of an apply's rollback.
func statusScript(id string) string {
	return fmt.Sprintf("D=%s\nID=%s\n%s", RemoteDir, id, statusTail)
}

var statusTail = fmt.Sprintf(`if [ -e "$D/confirmed.$ID" ]; then echo %s
elif [ -e "$D/rolledback.$ID" ]; then echo %s
elif [ -e "$D/firing.$ID" ]; then echo %s
elif [ -e "$D/armed.$ID" ]; then echo %s
else echo %s
fi
`, outConfirmed, outRolledBack, outFiring, outArmed, outUnknown)

// rollbackNowScript runs the rollback at once (the install failed).
func rollbackNowScript(id string) string {
	return fmt.Sprintf("/bin/sh %s/rollback.sh %s\n%s", RemoteDir, id, statusScript(id))
}

package trace

import (
	"fmt"

	"github.com/rampart-cluster/rampart/generator/policy"
)

// The tracer's errors, all in one place. Loading refuses files it cannot
// follow (UnsupportedError, InvalidError, FilesError); tracing refuses a
// packet it cannot decide (PacketError, MissingError, NoRulesError).

// UnsupportedError is a rule on the input path that holds a match, target,
// statement or set type the tracer does not evaluate. Every rule reachable
// from the input hook is read when the tracer is made, so such a rule
// refuses the whole file, whatever packet would have reached it.
type UnsupportedError struct {
	Rule Rule   // the rule
	What string // what is not known: "match -m addrtype", "statement fib", ...
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("%s: the tracer does not follow %s", e.Rule, e.What)
}

// InvalidError is a rule the kernel would not load: a jump to a chain, or a
// match of a set, that the files do not define; a set of the other family;
// a loop of jumps.
type InvalidError struct {
	Rule Rule   // the rule
	Msg  string // what is wrong
}

func (e *InvalidError) Error() string { return fmt.Sprintf("%s: %s", e.Rule, e.Msg) }

// FilesError says the files given are not what the tracer reads.
type FilesError struct {
	Msg string
}

func (e *FilesError) Error() string { return "trace: " + e.Msg }

// PacketError is a packet that is not one the tracer follows.
type PacketError struct {
	Msg string
}

func (e *PacketError) Error() string { return "trace: packet: " + e.Msg }

// MissingError is a rule whose outcome depends on a property the packet
// was not given (and on which no other part of the rule already decided).
type MissingError struct {
	Rule Rule   // the rule reached
	Need string // "source port", "hop limit", "destination address", "input interface"
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s: the packet's %s decides this rule, and the packet has none", e.Rule, e.Need)
}

// NoRulesError is a packet of a family the tracer was given no rules for.
type NoRulesError struct {
	Family policy.Family
}

func (e *NoRulesError) Error() string { return fmt.Sprintf("trace: no %s rules were given", e.Family) }

package trace

import (
	"github.com/rampart-cluster/rampart/generator/policy"
)

// A program is the input path of one family, read into chains of compiled
// rules; both backends compile into it and share its walk.

// cond is one condition of a rule. need is "" when the packet decides it,
// else the property it lacks ("source port", ...).
type cond func(pk *Packet) (ok bool, need string)

// actionKind is what a matching rule does.
type actionKind uint8

const (
	actNext    actionKind = iota // LOG, a counter, no target: go on with the next rule
	actVerdict                   // accept, drop, reject
	actJump                      // call a chain; its end (or a return) comes back
	actGoto                      // continue in a chain; its end returns to the caller of this one
	actReturn                    // back to the calling chain; in a base chain, its policy
)

type action struct {
	kind    actionKind
	verdict policy.Verdict // for actVerdict
	target  string         // chain name for actJump and actGoto
	to      *chain         // the target, resolved when linking
}

// crule is a compiled rule: every condition must hold.
type crule struct {
	place Rule
	conds []cond
	act   action
}

// match reports whether every condition holds; a condition the packet
// cannot decide is an error unless another condition fails.
func (r *crule) match(pk *Packet) (bool, error) {
	need := ""
	for _, c := range r.conds {
		ok, n := c(pk)
		if n != "" {
			if need == "" {
				need = n
			}
			continue
		}
		if !ok {
			return false, nil
		}
	}
	if need != "" {
		return false, &MissingError{Rule: r.place, Need: need}
	}
	return true, nil
}

// chain is a compiled chain.
type chain struct {
	table, name string
	rules       []*crule
	base        bool           // a built-in (iptables) or base (nftables) chain
	policy      policy.Verdict // for base chains: what the end of the chain decides
	policyName  string         // "filter INPUT policy ACCEPT"
}

// program is the input path of one family: its base chains in the order the
// kernel runs them. A drop or reject in any is final; an accept goes on to
// the next.
type program struct {
	bases []*chain
}

// maxDepth bounds nested jumps: the kernel allows fewer.
const maxDepth = 64

// run follows the packet through every base chain.
func (p *program) run(pk *Packet) (Result, error) {
	var res Result
	res.Verdict = policy.Accept
	res.Policy = "no chain of the input hook"
	for _, b := range p.bases {
		v, r, err := walk(b, pk, &res.Path)
		if err != nil {
			return Result{}, err
		}
		switch {
		case r != nil:
			res.Verdict, res.Rule, res.Policy = v, r, ""
		case v != policy.Accept || res.Rule == nil:
			// a policy accept does not take over from a rule that accepted
			// in an earlier base chain
			res.Verdict, res.Rule, res.Policy = v, nil, b.policyName
		}
		if v != policy.Accept {
			break
		}
	}
	return res, nil
}

type frame struct {
	c *chain
	i int
}

// walk follows the packet through one base chain and the chains it reaches;
// it returns the verdict and the deciding rule (nil: the base chain's
// policy).
func walk(b *chain, pk *Packet, path *[]Rule) (policy.Verdict, *Rule, error) {
	stack := []frame{{b, 0}}
	for {
		top := &stack[len(stack)-1]
		if top.i >= len(top.c.rules) {
			if len(stack) == 1 {
				return b.policy, nil, nil
			}
			stack = stack[:len(stack)-1]
			continue
		}
		r := top.c.rules[top.i]
		top.i++
		ok, err := r.match(pk)
		if err != nil {
			return "", nil, err
		}
		if !ok {
			continue
		}
		*path = append(*path, r.place)
		switch r.act.kind {
		case actNext:
		case actVerdict:
			place := r.place
			return r.act.verdict, &place, nil
		case actJump:
			if len(stack) >= maxDepth {
				return "", nil, &InvalidError{Rule: r.place, Msg: "jumps nest deeper than the kernel allows"}
			}
			stack = append(stack, frame{r.act.to, 0})
		case actGoto:
			stack[len(stack)-1] = frame{r.act.to, 0}
		case actReturn:
			if len(stack) == 1 {
				return b.policy, nil, nil
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// link resolves the targets of jumps and gotos from the base chains,
// through lookup, which compiles a chain when it is first reached (nil, nil:
// no such chain), and refuses a loop (which the kernel refuses to load).
// Only chains reachable from the base chains are compiled: what the input
// path never reaches (the forward path) cannot refuse the files.
func link(bases []*chain, lookup func(table, name string) (*chain, error)) error {
	const (
		unseen = iota
		open
		done
	)
	state := map[*chain]int{}
	var visit func(c *chain) error
	visit = func(c *chain) error {
		state[c] = open
		for _, r := range c.rules {
			if r.act.kind != actJump && r.act.kind != actGoto {
				continue
			}
			to, err := lookup(c.table, r.act.target)
			if err != nil {
				return err
			}
			if to == nil {
				return &InvalidError{Rule: r.place, Msg: "jumps to chain " + r.act.target + ", which table " + c.table + " does not define"}
			}
			if to.base {
				return &InvalidError{Rule: r.place, Msg: "jumps to " + r.act.target + ", a built-in or base chain"}
			}
			r.act.to = to
			switch state[to] {
			case open:
				return &InvalidError{Rule: r.place, Msg: "jumps to " + r.act.target + ", which leads back here: a loop"}
			case unseen:
				if err := visit(to); err != nil {
					return err
				}
			}
		}
		state[c] = done
		return nil
	}
	for _, b := range bases {
		if state[b] == unseen {
			if err := visit(b); err != nil {
				return err
			}
		}
	}
	return nil
}

package rollout

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rampart-cluster/rampart/generator/etcd"
)

// ErrMembership is a cluster whose etcd membership is not the spec's
// members: with a member the spec does not name (a half-done replacement,
// a learner), every spec member healthy is not a majority, and a restart
// could lose quorum.
var ErrMembership = errors.New("etcd's members are not the spec's")

// memberList is /v3/cluster/member/list as etcd's JSON gateway gives it.
type memberList struct {
	Members []struct {
		ID        string   `json:"ID"`
		Name      string   `json:"name"`
		PeerURLs  []string `json:"peerURLs"`
		IsLearner bool     `json:"isLearner"`
	} `json:"members"`
}

// sameMembers refuses a cluster whose member list (asked of the first
// member that answers) is not exactly the spec's members, by peer URL: no
// member more, none missing, no learner.
func (c *checker) sameMembers(ctx context.Context) error {
	var list memberList
	var err error
	for _, n := range c.members {
		if err = c.post(ctx, n, "/v3/cluster/member/list", struct{}{}, &list); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("reading etcd's member list: %w", err)
	}
	want := map[string]string{} // peer URL → spec member
	for _, n := range c.members {
		want[etcd.PeerURL(c.s, n)] = n.Name
	}
	seen := map[string]bool{}
	var extra []string
	for _, m := range list.Members {
		name := ""
		for _, u := range m.PeerURLs {
			if s, ok := want[u]; ok {
				name = s
			}
		}
		switch {
		case name == "":
			extra = append(extra, fmt.Sprintf("%s (%s)", cmp.Or(m.Name, "ID "+m.ID), strings.Join(m.PeerURLs, ",")))
		case m.IsLearner:
			extra = append(extra, name+" (a learner)")
		default:
			seen[name] = true
		}
	}
	var missing []string
	for _, n := range c.members {
		if !seen[n.Name] {
			missing = append(missing, n.Name)
		}
	}
	if len(extra) == 0 && len(missing) == 0 {
		return nil
	}
	var what []string
	if len(extra) > 0 {
		what = append(what, "etcd has members the spec does not name: "+strings.Join(extra, ", "))
	}
	if len(missing) > 0 {
		what = append(what, "the spec's "+strings.Join(missing, ", ")+" are not voting members")
	}
	return fmt.Errorf("%w: %s; quorum counted on the spec's members would be wrong, so nothing is restarted: bring the membership in line first (etcdctl member remove/add, rampart recover --replace)",
		ErrMembership, strings.Join(what, "; "))
}

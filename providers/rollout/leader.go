package rollout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/rampart-cluster/rampart/generator/spec"
)

// status is what a member's /v3/maintenance/status (etcd's JSON gateway)
// says of itself: its ID and the leader's, both decimal (uint64 as JSON
// strings).
type status struct {
	Header struct {
		MemberID string `json:"member_id"`
	} `json:"header"`
	Leader string `json:"leader"`
}

// post sends a JSON request to a member's gateway and decodes the answer.
func (c *checker) post(ctx context.Context, n *spec.Node, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	tr := &http.Transport{TLSClientConfig: c.cfg.Clone(), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 2 * c.timeout}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+c.endpoint(n)+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d %s", path, resp.StatusCode, bytes.TrimSpace(data))
	}
	return json.Unmarshal(data, out)
}

// handOff moves the leadership away from member n before its restart, when
// n leads: etcd transfers it too when it stops, but the others have no
// leader for a moment then, and /health says false on all of them. The
// leadership goes to the next member in spec order, and handOff waits
// until the others see the new leader.
func (c *checker) handOff(ctx context.Context, n *spec.Node) error {
	var self status
	if err := c.post(ctx, n, "/v3/maintenance/status", struct{}{}, &self); err != nil {
		return err
	}
	if self.Leader == "" || self.Leader != self.Header.MemberID {
		return nil
	}
	var target *spec.Node
	var targetID string
	for i, m := range c.members {
		if m != n {
			continue
		}
		next := c.members[(i+1)%len(c.members)]
		var st status
		if err := c.post(ctx, next, "/v3/maintenance/status", struct{}{}, &st); err != nil {
			return err
		}
		target, targetID = next, st.Header.MemberID
	}
	if target == nil {
		return nil
	}
	var ignored json.RawMessage
	if err := c.post(ctx, n, "/v3/maintenance/transfer-leadership", map[string]string{"targetID": targetID}, &ignored); err != nil {
		return fmt.Errorf("moving the leadership from %s to %s: %w", n.Name, target.Name, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		moved := true
		for _, m := range c.members {
			var st status
			if err := c.post(ctx, m, "/v3/maintenance/status", struct{}{}, &st); err != nil || st.Leader != targetID {
				moved = false
			}
		}
		if moved {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the leadership did not move from %s to %s within 10s", n.Name, target.Name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

package packet

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/rampart-cluster/rampart/providers/packet/packetfake"
)

// BenchmarkPush500 pushes 500 devices against the fake Metal API answering
// every call 50 ms late, 50 calls at a time, and reports the wall time
// against the ideal: calls × latency / concurrency (ratio-to-ideal 1.0 means
// the push kept every slot busy for its whole run).
//
//   - create: an empty project, every device created;
//   - update: every device exists with stale userdata (and a list of five
//     pages of 100 to read first).
func BenchmarkPush500(b *testing.B) {
	const (
		devices     = 500
		latency     = 50 * time.Millisecond
		concurrency = 50
	)
	userdata := bytes.Repeat([]byte("x"), 6<<10) // about what a role's Ignition weighs
	ms := make([]Machine, devices)
	for i := range ms {
		ms[i] = Machine{Hostname: fmt.Sprintf("node-%03d", i), Role: "agent", Userdata: userdata}
	}
	for _, mode := range []string{"create", "update"} {
		b.Run(mode, func(b *testing.B) {
			var wall time.Duration
			calls := 0
			for range b.N {
				b.StopTimer()
				s, c := startFake(b)
				c.Concurrency = concurrency
				if mode == "update" {
					for _, m := range ms {
						s.AddDevice(packetfake.Device{Project: project, Hostname: m.Hostname, Userdata: "stale",
							Tags: []string{"rampart:cluster=dcos-packet", "rampart:role=agent"}})
					}
				}
				s.Latency = latency
				b.StartTimer()
				start := time.Now()
				p, err := c.Plan(context.Background(), target, ms, PlanOptions{Create: true})
				if err != nil {
					b.Fatal(err)
				}
				res, err := c.Apply(context.Background(), p, nil)
				if err != nil {
					b.Fatal(err)
				}
				wall += time.Since(start)
				b.StopTimer()
				if len(res.Done()) != devices {
					b.Fatalf("%d devices done, want %d", len(res.Done()), devices)
				}
				n := len(s.Calls())
				want := map[string]int{"create": 1 + devices, "update": devices/DefaultPerPage + devices}[mode]
				if n != want {
					b.Fatalf("%d calls, want %d", n, want)
				}
				calls += n
				s.Close()
				if v := s.Violations(); len(v) > 0 {
					b.Fatalf("Metal spec violations: %s", strings.Join(v, "\n"))
				}
				b.StartTimer()
			}
			ideal := time.Duration(calls) * latency / concurrency
			b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
			b.ReportMetric(float64(ideal.Milliseconds())/float64(b.N), "ideal-ms/op")
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms/op")
			b.ReportMetric(wall.Seconds()/ideal.Seconds(), "ratio-to-ideal")
		})
	}
}

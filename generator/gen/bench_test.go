package gen_test

import (
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	butane "github.com/coreos/butane/config"
	"github.com/coreos/butane/config/common"

	"github.com/rampart-cluster/rampart/generator/gen"
	"github.com/rampart-cluster/rampart/generator/spec"
	"github.com/rampart-cluster/rampart/internal/workers"
)

// bigSpec is a DC/OS cluster of n nodes: three etcd masters, one public agent
// in ten, the rest private agents, each with a public and a private IPv4
// address and an IPv6 address.
func bigSpec(n int) []byte {
	var b strings.Builder
	b.WriteString(`version: 1
cluster: big
os: {variant: flatcar, version: 1.1.0}
outputs: [ignition, cloud-config]
profile: dcos
admins: [209.220.51.50/32, "2001:db8:ad::/48"]
trusted: [8.8.8.8, 8.8.4.4]
roles:
  master: {etcd: true, admin: [22/tcp, 8080/tcp]}
  public-agent: {public: [80/tcp, 443/tcp, 10000-10100/tcp]}
nodes:
`)
	for i := range n {
		role := "agent"
		switch {
		case i < 3:
			role = "master"
		case i%10 == 0:
			role = "public-agent"
		}
		fmt.Fprintf(&b, "  - {name: node-%d, role: %s, addresses: [147.%d.%d.%d, 10.%d.%d.%d, \"2604:1380::%x\"]}\n",
			i, role, 75+i/65536, (i/256)%256, i%256, 88+i/65536, (i/256)%256, i%256, i+1)
	}
	return []byte(b.String())
}

func loadBench(b *testing.B, name string) (*spec.Spec, int) {
	b.Helper()
	var s *spec.Spec
	var err error
	if name == "dcos-packet" {
		s, err = spec.LoadFile(filepath.Join(fixtures, "dcos-packet.yaml"))
	} else {
		var n int
		fmt.Sscanf(name, "%d-nodes", &n)
		s, err = spec.Parse("big.yaml", bigSpec(n))
	}
	if err != nil {
		b.Fatal(err)
	}
	return s, len(s.Nodes)
}

var benchCases = []string{"dcos-packet", "1000-nodes"}

// BenchmarkGen measures the whole pipeline (spec already parsed) and reports
// the cost per node.
func BenchmarkGen(b *testing.B) {
	for _, name := range benchCases {
		b.Run(name, func(b *testing.B) {
			s, nodes := loadBench(b, name)
			st := gen.WithState(tempState(b, s))
			b.ResetTimer()
			for b.Loop() {
				if _, err := gen.Generate(s, st); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nodes), "ns/node")
		})
	}
}

// BenchmarkGenVsButane runs gen and then the butane library alone on the same
// Butane documents (those gen writes to the tree), with the same parallelism
// and order gen uses (largest first), and reports the ratio. The target is
// gen/butane <= 1.3.
func BenchmarkGenVsButane(b *testing.B) {
	for _, name := range benchCases {
		b.Run(name, func(b *testing.B) {
			s, _ := loadBench(b, name)
			st := gen.WithState(tempState(b, s))
			// the very documents gen translates: the tree's butane.yaml
			// files, largest first as gen schedules them
			tree, err := gen.Generate(s, st)
			if err != nil {
				b.Fatal(err)
			}
			var docs [][]byte
			for _, f := range tree.Files {
				if path.Base(f.Path) == "butane.yaml" {
					docs = append(docs, f.Data)
				}
			}
			sort.SliceStable(docs, func(i, j int) bool { return len(docs[i]) > len(docs[j]) })
			var genTime, butaneTime time.Duration
			for b.Loop() {
				start := time.Now()
				if _, err := gen.Generate(s, st); err != nil {
					b.Fatal(err)
				}
				genTime += time.Since(start)
				start = time.Now()
				workers.Each(len(docs), func(i int) {
					if _, _, err := butane.TranslateBytes(docs[i], common.TranslateBytesOptions{Pretty: true}); err != nil {
						b.Error(err)
					}
				})
				butaneTime += time.Since(start)
			}
			b.ReportMetric(float64(genTime)/float64(butaneTime), "gen/butane")
			b.ReportMetric(float64(butaneTime.Nanoseconds())/float64(b.N), "butane-ns/op")
		})
	}
}

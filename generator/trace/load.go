package trace

import (
	"bytes"
	"fmt"

	"github.com/rampart-cluster/rampart/generator/drift"
	"github.com/rampart-cluster/rampart/generator/firewall"
	"github.com/rampart-cluster/rampart/generator/policy"
)

// Load reads the firewall files of a machine, as firewall.RenderIPTables or
// firewall.RenderNFTables return them (or as a node's firewall directory
// holds them): iptables.v4, iptables.v6, ipset.v4 and ipset.v6, or
// rampart.nft. The failsafe files, which the script loads only when the
// ruleset fails, are not what runs and are left out; so is any other file.
func Load(files []firewall.File) (*Tracer, error) {
	byName := map[string][]byte{}
	for _, f := range files {
		byName[f.Name] = f.Contents
	}
	nft, isNFT := byName[firewall.NFTFile]
	if isNFT {
		for _, f := range policy.Families {
			if _, ok := byName[iptablesFile(f)]; ok {
				return nil, &FilesError{Msg: fmt.Sprintf("both %s and %s: one backend at a time", firewall.NFTFile, iptablesFile(f))}
			}
		}
		n, err := drift.ParseNFT(bytes.NewReader(nft), firewall.NFTFile)
		if err != nil {
			return nil, err
		}
		return NewNFT(firewall.NFTFile, n)
	}
	fams := map[policy.Family]IPTablesFamily{}
	var sets []*drift.IPSets
	for _, f := range policy.Families {
		if data, ok := byName[ipsetFile(f)]; ok {
			s, err := drift.ParseIPSet(bytes.NewReader(data), ipsetFile(f))
			if err != nil {
				return nil, err
			}
			sets = append(sets, s)
		}
		data, ok := byName[iptablesFile(f)]
		if !ok {
			continue
		}
		t, err := drift.ParseIPTables(bytes.NewReader(data), iptablesFile(f))
		if err != nil {
			return nil, err
		}
		fams[f] = IPTablesFamily{Name: iptablesFile(f), Rules: t}
	}
	if len(fams) == 0 {
		return nil, &FilesError{Msg: fmt.Sprintf("neither %s nor %s nor %s among the files", firewall.NFTFile, iptablesFile(policy.V4), iptablesFile(policy.V6))}
	}
	return NewIPTables(fams, sets...)
}

// iptablesFile and ipsetFile are the names RenderIPTables gives a family's
// files.
func iptablesFile(f policy.Family) string { return fmt.Sprintf("iptables.v%d", f) }
func ipsetFile(f policy.Family) string    { return fmt.Sprintf("ipset.v%d", f) }

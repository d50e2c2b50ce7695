package apply

import "time"

// Scripts are the remote scripts apply sends, for TestScriptsParse.
func Scripts() map[string]string {
	n := node{Script: "/opt/bin/rampart-firewall", Unit: "rampart-firewall.service", FWDir: "/etc/rampart/firewall"}
	files := []File{{Path: "/etc/rampart/firewall/ipset.v4", Mode: 0o644, Data: []byte("create x hash:ip\n")}, {Path: "/etc/ssl/certs/etcd/server.key", Mode: 0o600, Data: []byte("key")}}
	return map[string]string{
		"read":     n.readScript([]string{"/etc/rampart/firewall/ipset.v4"}, "tok", saveCommands["iptables"]),
		"stage":    n.stageScript("id", files, []string{"/etc/rampart/firewall/old"}),
		"rollback": n.rollbackScript(),
		"install":  n.installScript("id", 1500*time.Millisecond),
		"disarm":   disarmScript("id"),
		"status":   statusScript("id"),
		"now":      rollbackNowScript("id"),
		"apply":    n.applyScript("id", files, nil, time.Minute),
	}
}

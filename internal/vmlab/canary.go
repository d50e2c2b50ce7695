package vmlab

import (
	"fmt"
	"strings"
)

// canarySocket is the lab's listener: a socket unit that binds the given TCP
// ports before the network is configured (sockets.target, before
// network-pre.target), so that a probe sees whether its packets reached a
// listening port from the first moment the node has an address. The
// kernel completes a connection's handshake as soon as the socket listens;
// the image's vmlab-canary.service, started by the first connection,
// echoes what each connection sends.
func canarySocket(ports []uint16) string {
	var b strings.Builder
	b.WriteString(`# vmlab canary: TCP ports that answer from before the network is configured.
[Unit]
Description=vmlab canary listener
DefaultDependencies=no
Before=sockets.target network-pre.target

[Socket]
`)
	for _, p := range ports {
		fmt.Fprintf(&b, "ListenStream=%d\n", p)
	}
	b.WriteString(`FreeBind=yes
Backlog=1024

[Install]
WantedBy=sockets.target
`)
	return b.String()
}

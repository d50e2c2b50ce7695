package vmlab

import (
	"fmt"
	"strings"
)

// The image's own units: what Flatcar and Fedora CoreOS ship and a Debian
// root lacks, and the lab's canary. They are written into every VM's root
// under the paths their originals have.

// etcdMemberUnit stands in for Flatcar's /usr/lib/systemd/system/etcd-member.service:
// the same name and the same contract (etcd configured by ETCD_* environment
// from drop-ins, run as user etcd, with PermissionsStartOnly so that a
// drop-in's ExecStartPre runs as root), but Debian's etcd-server binary
// instead of Flatcar's etcd container.
const etcdMemberUnit = `# vmlab: stands in for Flatcar's etcd-member.service (which runs etcd in a
# container); here etcd is Debian's etcd-server, configured the same way: by
# ETCD_* environment from drop-ins.
[Unit]
Description=etcd key-value store (vmlab stand-in for Flatcar's etcd-member)
Wants=network-online.target
After=network-online.target

[Service]
Type=notify
User=etcd
PermissionsStartOnly=true
ExecStartPre=/usr/bin/install -d -o etcd -g etcd -m 0700 /var/lib/etcd
ExecStart=/usr/bin/etcd
Restart=on-failure
RestartSec=5s
TimeoutStartSec=0
LimitNOFILE=40000

[Install]
WantedBy=multi-user.target
`

// etcdMemberPath is where the image carries its etcd-member.service, as
// Flatcar does.
const etcdMemberPath = "/usr/lib/systemd/system/etcd-member.service"

// canarySocket is the lab's listener: a socket unit that binds the given TCP
// ports before the network is configured (sockets.target, before
// network-pre.target), so that a probe sees whether its packets reached a
// listening port from the first moment the node has an address. The
// kernel completes a connection's handshake as soon as the socket listens;
// canaryService, started by the first connection, echoes what each
// connection sends.
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

// canaryService serves every canary connection in one process (a process
// per connection would load a TCG machine more than the boot itself).
const canaryService = `# vmlab canary: echoes every connection on the sockets systemd passes.
[Unit]
Description=vmlab canary echo server
DefaultDependencies=no

[Service]
ExecStart=/usr/bin/python3 /usr/local/lib/vmlab/canary.py
`

// canaryPath is where the canary's echo server lives in a VM's root.
const canaryPath = "/usr/local/lib/vmlab/canary.py"

// canaryServer is the echo server: a thread per listening socket (from
// LISTEN_FDS) and per connection.
const canaryServer = `# vmlab canary: echoes every connection on the sockets systemd passes.
import os, socket, threading

def serve(c):
    with c:
        while True:
            data = c.recv(4096)
            if not data:
                return
            c.sendall(data)

def accept(s):
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()

socks = [socket.socket(fileno=3 + i) for i in range(int(os.environ.get("LISTEN_FDS", "0")))]
for s in socks[1:]:
    threading.Thread(target=accept, args=(s,), daemon=True).start()
accept(socks[0])
`

// flatcarPresets makes the image behave like Flatcar and Fedora CoreOS on
// the first boot, when systemd applies the presets: only what a preset
// names is enabled (Debian's own policy enables every unit).
const flatcarPresets = "# vmlab: as on Flatcar and Fedora CoreOS, only what a preset names is enabled\ndisable *\n"

// Command rampart generates the boot configuration of a cluster's nodes
// (Ignition and cloud-config with a host firewall) from one cluster spec.
package main

import (
	"os"

	"github.com/rampart-cluster/rampart/cmd/rampart/cli"
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}

package review

import "github.com/rampart-cluster/rampart/generator/policy"

// Protocols of a cell, in the order cells list them (the policy's: Other
// stands for every protocol that is not tcp, udp or icmp, reached only by
// rules that name no protocol).
const (
	TCP   = policy.TCP
	UDP   = policy.UDP
	ICMP  = policy.ICMP // echo requests (ping): ICMP for IPv4, ICMPv6 for IPv6
	Other = policy.Other
)

// Access is what one source reaches on one destination in one family, as
// the policy's evaluator decides it.
type Access = policy.Access

// Segment is a part of a cell's traffic and the verdict it gets.
type Segment = policy.Segment

// Nothing is how a cell with nothing open reads.
const Nothing = policy.Nothing

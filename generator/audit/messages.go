package audit

import "github.com/rampart-cluster/rampart/generator/report"

// What the audit reports, in one place: errors make `rampart audit` exit 1,
// warnings only with --strict.
var (
	msgNoAdmins            = report.Message{Code: "audit.no-admins", Severity: report.Error, Format: "admins is empty: no operator can reach any node on SSH (22/tcp) from outside the cluster"}
	msgLockout             = report.Message{Code: "audit.lockout", Severity: report.Error, Format: "no admin can reach role %s on SSH (22/tcp): %s (%s)"}
	msgEtcdEven            = report.Message{Code: "audit.etcd-even", Severity: report.Warning, Format: "role %s has %d etcd members (quorum %d): an even number tolerates no more failures than one member fewer; use an odd number"}
	msgEtcdBlocked         = report.Message{Code: "audit.etcd-blocked", Severity: report.Error, Format: "etcd member %s (%s) cannot reach the other members of role %s on %d/tcp: %s (%s)"}
	msgWorldTrusted        = report.Message{Code: "audit.world-source", Severity: report.Error, Format: "%s lists %s, which stands for the world: %s"}
	msgWorldAdmin          = report.Message{Code: "audit.world-source", Severity: report.Warning, Format: "%s lists %s, which stands for the world: %s"}
	msgWorldPool           = report.Message{Code: "audit.world-source", Severity: report.Error, Format: "%s lists %s, which stands for the world: %s"}
	msgControlPlaneExposed = report.Message{Code: "audit.control-plane-exposed", Severity: report.Error, Format: "the world reaches %s on %d/%s (%s, unauthenticated control plane): %s (%s)"}
	msgExposed             = report.Message{Code: "audit.exposed", Severity: report.Warning, Format: "the world reaches %s on %d/%s (%s): %s (%s)"}
	msgPublicResolver      = report.Message{Code: "audit.public-resolver", Severity: report.Error, Format: "trusted %s is a public resolver (%s): its replies are accepted anyway (ESTABLISHED), so trust gains nothing, and trust by address lets spoofed UDP from it reach every port of every node; remove it from trusted, or write it as {cidr: %s, ports: [...]} with the ports it really needs"}
	msgResolversInside     = report.Message{Code: "audit.public-resolver", Severity: report.Warning, Format: "trusted %s holds public resolvers %s: their replies are accepted as established without trust, and trust lets spoofed UDP from them reach every port; narrow it"}
	msgMetadataOpen        = report.Message{Code: "audit.metadata-open", Severity: report.Warning, Format: "firewall.metadata is allow: containers can read their node's userdata from the cloud metadata service, and the userdata of %s holds etcd keys; allow it only where every container is trusted"}
	msgLargeWhitelist      = report.Message{Code: "audit.large-whitelist", Severity: report.Warning, Format: "%s lists %d single addresses of %s one by one; the CIDR (or a narrower one) would serve and keep the list reviewable"}
	msgEtcdExposed         = report.Message{Code: "audit.etcd-exposed", Severity: report.Warning, Format: "the world reaches %s on %d/%s (%s): rampart's etcd takes only clients with a certificate of the cluster's CA, but nothing outside the cluster needs the port: %s (%s)"}
	msgNodePortsWorld      = report.Message{Code: "audit.nodeports-world", Severity: report.Warning, Format: "the world reaches the NodePorts of %s (%s): every Service of type NodePort or LoadBalancer is public: %s (%s)"}
	msgStaleAcceptance     = report.Message{Code: "audit.stale-acceptance", Severity: report.Error, Format: "audit.accept names %s at %s, and the audit finds no such finding: remove the acceptance (or fix its code and where, as audit prints them)"}
	msgNoEffect            = report.Message{Code: "audit.no-effect", Severity: report.Warning, Format: "%s changes nothing: every connection it matches is decided first by %s"}
)

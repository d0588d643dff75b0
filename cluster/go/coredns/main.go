// Command coredns is CoreDNS with only the plugins the test cluster's Corefile uses.
//
// Upstream's main imports every plugin, cloud DNS back ends included; importing the few
// the Corefile names compiles several times less code. Plugins register themselves in
// init, and the directive order comes from the pinned module's dnsserver package.
package main

import (
	_ "github.com/coredns/coredns/core/dnsserver" // the DNS server type and directive order
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() { coremain.Run() }

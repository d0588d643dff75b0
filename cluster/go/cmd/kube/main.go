// Command kube is one binary for the five Kubernetes node and control-plane components
// (and the harness's volume provisioner): `kube COMPONENT [flags...]`.
//
// The components share almost all of their packages, so one link of one binary costs far
// less than five (each link of a Kubernetes component takes most of a minute on two cores
// and the five binaries would take ~500 MB). The harness's list of daemons
// (cluster/steps.py) names the components it runs; tests/harness checks they are all here.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	_ "time/tzdata" // CronJob time zones, as upstream's kube-apiserver and controller-manager do

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

var commands = map[string]func() *cobra.Command{
	"kube-apiserver":          apiserver.NewAPIServerCommand,
	"kube-controller-manager": controllermanager.NewControllerManagerCommand,
	"kube-scheduler":          func() *cobra.Command { return scheduler.NewSchedulerCommand() },
	"kubelet":                 func() *cobra.Command { return kubelet.NewKubeletCommand(context.Background()) },
	"kube-proxy":              proxy.NewProxyCommand,
}

// provisioner is the harness's own volume provisioner, not an upstream component.
const provisioner = "hostpath-provisioner"

func main() {
	name := ""
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	if name == provisioner {
		os.Exit(runHostPathProvisioner(os.Args[2:]))
	}
	newCommand, ok := commands[name]
	if !ok {
		names := []string{provisioner}
		for n := range commands {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: kube COMPONENT [flags...]; COMPONENT is one of %v\n", names)
		os.Exit(2)
	}
	// The component sees itself as the program: `kubelet --flags`, as upstream's binary.
	os.Args = append([]string{name}, os.Args[2:]...)
	os.Exit(cli.Run(newCommand()))
}

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

const (
	// provisionedBy is the annotation the PV controller reads to know who provisioned a volume.
	provisionedBy = "pv.kubernetes.io/provisioned-by"
	// selectedNode is where the scheduler writes the node it picked for a claim's first pod
	// (WaitForFirstConsumer binding).
	selectedNode = "volume.kubernetes.io/selected-node"
	// hostnameLabel is the node label a local volume's node affinity matches on.
	hostnameLabel = "kubernetes.io/hostname"
)

// hostPathProvisioner provisions a directory per claim, on the node the claim's first pod was
// scheduled to, for the StorageClasses whose provisioner is its name, and deletes the directory
// when a Delete-policy volume is released. It follows rancher's local-path-provisioner: the
// classes bind WaitForFirstConsumer, each volume is a `local` PersistentVolume whose node
// affinity pins it (and so every pod that uses it) to that node.
//
// Every node's directories are under one host directory, DIR/NODE/ (a worker's container
// mounts its own DIR/NODE), so the provisioner reaches all of them from the host and deletes a
// volume of a node that is down. Upstream's in-tree host-path provisioner (kube-controller-manager
// --enable-hostpath-provisioner) creates its directories 0750 root and knows no nodes; these
// are world-writable, as local-path-provisioner's are. It polls: a test cluster has a handful of
// claims, and polling needs no informer machinery.
type hostPathProvisioner struct {
	client *kubernetes.Clientset
	name   string
	dir    string
	// warned remembers the claims already reported as unprovisionable, to log each once.
	warned map[types.UID]bool
}

func runHostPathProvisioner(args []string) int {
	flags := flag.NewFlagSet("hostpath-provisioner", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the provisioner's identity")
	name := flags.String("name", "platform.local/hostpath", "provisioner name StorageClasses refer to")
	dir := flags.String("dir", "", "directory with one subdirectory per node, holding its volumes")
	interval := flags.Duration("interval", time.Second, "how often to look for work")
	_ = flags.Parse(args)
	if *kubeconfig == "" || *dir == "" {
		fmt.Fprintln(os.Stderr, "hostpath-provisioner: --kubeconfig and --dir are required")
		return 2
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		klog.ErrorS(err, "loading kubeconfig")
		return 1
	}
	p := &hostPathProvisioner{
		client: kubernetes.NewForConfigOrDie(config),
		name:   *name,
		dir:    filepath.Clean(*dir),
		warned: map[types.UID]bool{},
	}
	ctx := context.Background()
	for {
		if err := p.sync(ctx); err != nil {
			klog.ErrorS(err, "sync")
		}
		time.Sleep(*interval)
	}
}

func (p *hostPathProvisioner) sync(ctx context.Context) error {
	classes, err := p.client.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	ours := map[string]storagev1.StorageClass{}
	for _, class := range classes.Items {
		if class.Provisioner == p.name {
			ours[class.Name] = class
		}
	}
	claims, err := p.client.CoreV1().PersistentVolumeClaims("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range claims.Items {
		claim := &claims.Items[i]
		if claim.Spec.StorageClassName == nil || claim.Spec.VolumeName != "" ||
			claim.Status.Phase != corev1.ClaimPending {
			continue
		}
		class, ok := ours[*claim.Spec.StorageClassName]
		if !ok {
			continue
		}
		node := claim.Annotations[selectedNode]
		if node == "" {
			if class.VolumeBindingMode == nil || *class.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
				p.warnOnce(claim, fmt.Errorf("StorageClass %s binds Immediate: a node-local volume needs "+
					"volumeBindingMode WaitForFirstConsumer", class.Name))
			}
			// Otherwise the scheduler has not picked a node for the claim's first pod yet.
			continue
		}
		if err := p.provision(ctx, claim, class, node); err != nil {
			p.warnOnce(claim, err)
		}
	}
	return p.deleteReleased(ctx)
}

func (p *hostPathProvisioner) warnOnce(claim *corev1.PersistentVolumeClaim, err error) {
	if !p.warned[claim.UID] {
		klog.ErrorS(err, "cannot provision", "claim", klog.KObj(claim))
		p.warned[claim.UID] = true
	}
}

func (p *hostPathProvisioner) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim,
	class storagev1.StorageClass, nodeName string) error {
	node, err := p.client.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("the selected node: %w", err)
	}
	hostname := node.Labels[hostnameLabel]
	if hostname == "" {
		return fmt.Errorf("node %s has no %s label", nodeName, hostnameLabel)
	}
	nodeDir := filepath.Join(p.dir, nodeName)
	if _, err := os.Stat(nodeDir); err != nil {
		return fmt.Errorf("no volume directory for node %s: %w", nodeName, err)
	}
	name := "pvc-" + string(claim.UID)
	path := filepath.Join(nodeDir, name)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return err
	}
	// Explicitly: MkdirAll's mode is filtered by the umask.
	if err := os.Chmod(path, 0o777); err != nil {
		return err
	}
	policy := corev1.PersistentVolumeReclaimDelete
	if class.ReclaimPolicy != nil {
		policy = *class.ReclaimPolicy
	}
	volume := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{provisionedBy: p.name},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: claim.Spec.Resources.Requests[corev1.ResourceStorage]},
			AccessModes:                   claim.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: policy,
			StorageClassName:              class.Name,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind:       "PersistentVolumeClaim",
				APIVersion: "v1",
				Namespace:  claim.Namespace,
				Name:       claim.Name,
				UID:        claim.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				Local: &corev1.LocalVolumeSource{Path: path},
			},
			// The data is on that node only: the scheduler places the claim's pods there and
			// nowhere else, and leaves them Pending while that node cannot take them.
			NodeAffinity: &corev1.VolumeNodeAffinity{
				Required: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{
						MatchExpressions: []corev1.NodeSelectorRequirement{{
							Key:      hostnameLabel,
							Operator: corev1.NodeSelectorOpIn,
							Values:   []string{hostname},
						}},
					}},
				},
			},
		},
	}
	_, err = p.client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil {
		klog.InfoS("provisioned", "claim", klog.KObj(claim), "volume", name, "node", nodeName, "path", path)
	}
	return err
}

// ownPath tells whether path is a volume directory this provisioner made: DIR/NODE/NAME.
func (p *hostPathProvisioner) ownPath(path string) bool {
	return filepath.Dir(filepath.Dir(path)) == p.dir
}

func (p *hostPathProvisioner) deleteReleased(ctx context.Context) error {
	volumes, err := p.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, volume := range volumes.Items {
		if volume.Annotations[provisionedBy] != p.name || volume.Status.Phase != corev1.VolumeReleased ||
			volume.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
			volume.Spec.Local == nil || !p.ownPath(volume.Spec.Local.Path) {
			continue
		}
		if err := os.RemoveAll(volume.Spec.Local.Path); err != nil {
			klog.ErrorS(err, "removing", "volume", volume.Name)
			continue
		}
		err := p.client.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			klog.ErrorS(err, "deleting", "volume", volume.Name)
			continue
		}
		klog.InfoS("deleted", "volume", volume.Name, "path", volume.Spec.Local.Path)
	}
	return nil
}

package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// provisionedBy is the annotation the PV controller reads to know who provisioned a volume.
const provisionedBy = "pv.kubernetes.io/provisioned-by"

// hostPathProvisioner provisions a directory per claim for the StorageClasses whose
// provisioner is its name, and deletes the directory when a Delete-policy volume is released.
//
// Upstream's in-tree host-path provisioner (kube-controller-manager
// --enable-hostpath-provisioner) creates its directories with mode 0750 owned by root, so
// no pod running as a non-root user (PostgreSQL as 999) can write to its volume. This one
// creates them world-writable, as rancher's local-path-provisioner does. It polls: a test
// cluster has a handful of claims, and polling needs no informer machinery.
type hostPathProvisioner struct {
	client *kubernetes.Clientset
	name   string
	dir    string
}

func runHostPathProvisioner(args []string) int {
	flags := flag.NewFlagSet("hostpath-provisioner", flag.ExitOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the provisioner's identity")
	name := flags.String("name", "platform.local/hostpath", "provisioner name StorageClasses refer to")
	dir := flags.String("dir", "", "directory that holds one subdirectory per volume")
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
	p := &hostPathProvisioner{client: kubernetes.NewForConfigOrDie(config), name: *name, dir: *dir}
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
	ours := map[string]corev1.PersistentVolumeReclaimPolicy{}
	for _, class := range classes.Items {
		if class.Provisioner == p.name {
			policy := corev1.PersistentVolumeReclaimDelete
			if class.ReclaimPolicy != nil {
				policy = *class.ReclaimPolicy
			}
			ours[class.Name] = policy
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
		if policy, ok := ours[*claim.Spec.StorageClassName]; ok {
			if err := p.provision(ctx, claim, policy); err != nil {
				klog.ErrorS(err, "provisioning", "claim", klog.KObj(claim))
			}
		}
	}
	return p.deleteReleased(ctx)
}

func (p *hostPathProvisioner) provision(ctx context.Context, claim *corev1.PersistentVolumeClaim,
	policy corev1.PersistentVolumeReclaimPolicy) error {
	name := "pvc-" + string(claim.UID)
	path := filepath.Join(p.dir, name)
	if err := os.MkdirAll(path, 0o777); err != nil {
		return err
	}
	// Explicitly: MkdirAll's mode is filtered by the umask.
	if err := os.Chmod(path, 0o777); err != nil {
		return err
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
			StorageClassName:              *claim.Spec.StorageClassName,
			VolumeMode:                    claim.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind:       "PersistentVolumeClaim",
				APIVersion: "v1",
				Namespace:  claim.Namespace,
				Name:       claim.Name,
				UID:        claim.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: path},
			},
		},
	}
	_, err := p.client.CoreV1().PersistentVolumes().Create(ctx, volume, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err == nil {
		klog.InfoS("provisioned", "claim", klog.KObj(claim), "volume", name, "path", path)
	}
	return err
}

func (p *hostPathProvisioner) deleteReleased(ctx context.Context) error {
	volumes, err := p.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, volume := range volumes.Items {
		if volume.Annotations[provisionedBy] != p.name || volume.Status.Phase != corev1.VolumeReleased ||
			volume.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete ||
			volume.Spec.HostPath == nil || filepath.Dir(volume.Spec.HostPath.Path) != filepath.Clean(p.dir) {
			continue
		}
		if err := os.RemoveAll(volume.Spec.HostPath.Path); err != nil {
			klog.ErrorS(err, "removing", "volume", volume.Name)
			continue
		}
		err := p.client.CoreV1().PersistentVolumes().Delete(ctx, volume.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			klog.ErrorS(err, "deleting", "volume", volume.Name)
			continue
		}
		klog.InfoS("deleted", "volume", volume.Name)
	}
	return nil
}

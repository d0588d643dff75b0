"""What the harness applies once the control plane is up: DNS, storage, kubelet access."""

from __future__ import annotations

from cluster import config

# The host runs the control plane and the cluster's own add-ons; workers are for workloads
# (and for the drills that lose a node). The harness labels the host's node with it.
CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane="


def _user_binding(name: str) -> str:
    """The binding of the harness's client `platform-cluster:NAME` (a certificate's common name,
    cluster/pki.py) to the ClusterRole of the same name."""
    qualified = f"platform-cluster:{name}"
    return f"""---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {qualified}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {qualified}
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: {qualified}
"""


def addons() -> str:
    """Multi-document YAML for `kubectl apply -f -`."""
    return f"""\
# The apiserver's client certificate for kubelet logs/exec/port-forward (kubeadm's binding).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: platform-cluster:apiserver-kubelet-client
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:kubelet-api-admin
subjects:
  - apiGroup: rbac.authorization.k8s.io
    kind: User
    name: kube-apiserver-kubelet-client
---
# Dynamic provisioning by the harness's provisioner (`kube hostpath-provisioner`): one
# world-writable directory per claim under .cluster/state/volumes/NODE, on the node the claim's
# first pod is scheduled to, as a `local` volume pinned there by node affinity. Not the
# controller-manager's in-tree kubernetes.io/host-path provisioner: its directories are 0750
# root, unwritable for pods that run as a non-root user, and it knows no nodes.
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: {config.PROVISIONER}
reclaimPolicy: Delete
# The node is chosen with the pod (the scheduler's selected-node annotation), not before.
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: platform-cluster:hostpath-provisioner
rules:
  - apiGroups: [storage.k8s.io]
    resources: [storageclasses]
    verbs: [get, list]
  - apiGroups: [""]
    resources: [persistentvolumeclaims]
    verbs: [get, list]
  - apiGroups: [""]
    resources: [persistentvolumes]
    verbs: [get, list, create, delete]
  # The selected node's hostname label, for the volume's node affinity.
  - apiGroups: [""]
    resources: [nodes]
    verbs: [get]
{_user_binding("hostpath-provisioner")}---
# kube-router's NetworkPolicy controller on every node (firewall only: it watches, never
# writes): the informers its `Run` starts, and nothing else.
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: platform-cluster:kube-router
rules:
  - apiGroups: [""]
    resources: [namespaces, pods, services, nodes]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [networkpolicies]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [get, list, watch]
{_user_binding("kube-router")}---
# kube-state-metrics: list and watch what it is started with (KUBE_STATE_METRICS_RESOURCES).
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: platform-cluster:kube-state-metrics
rules:
  - apiGroups: [""]
    resources: [nodes, pods]
    verbs: [list, watch]
  - apiGroups: [apps]
    resources: [deployments, statefulsets]
    verbs: [list, watch]
  - apiGroups: [batch]
    resources: [cronjobs, jobs]
    verbs: [list, watch]
{_user_binding("kube-state-metrics")}---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: coredns
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:coredns
rules:
  - apiGroups: [""]
    resources: [endpoints, services, pods, namespaces]
    verbs: [list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:coredns
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:coredns
subjects:
  - kind: ServiceAccount
    name: coredns
    namespace: kube-system
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: coredns
  namespace: kube-system
data:
  # No `loop` plugin: the host's resolver may be unreachable from pods (no egress here), and
  # cluster names are all the tests need; forwarding stays for whoever has egress.
  Corefile: |
    .:53 {{
        errors
        health :8080
        ready :8181
        kubernetes {config.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
            pods insecure
            fallthrough in-addr.arpa ip6.arpa
            ttl 30
        }}
        forward . /etc/resolv.conf
        cache 30
        loadbalance
        reload
    }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: coredns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  replicas: 1
  selector:
    matchLabels:
      k8s-app: kube-dns
  template:
    metadata:
      labels:
        k8s-app: kube-dns
    spec:
      serviceAccountName: coredns
      priorityClassName: system-cluster-critical
      dnsPolicy: Default
      # On the host: cluster DNS must outlive a lost worker node.
      nodeSelector:
        node-role.kubernetes.io/control-plane: ""
      tolerations:
        - key: CriticalAddonsOnly
          operator: Exists
        - key: node-role.kubernetes.io/control-plane
          effect: NoSchedule
      containers:
        - name: coredns
          image: {config.COREDNS_IMAGE}
          imagePullPolicy: Never
          args: ["-conf", "/etc/coredns/Corefile"]
          ports:
            - {{name: dns, containerPort: 53, protocol: UDP}}
            - {{name: dns-tcp, containerPort: 53, protocol: TCP}}
            - {{name: health, containerPort: 8080, protocol: TCP}}
          resources:
            requests: {{cpu: 50m, memory: 32Mi}}
            limits: {{memory: 128Mi}}
          securityContext:
            allowPrivilegeEscalation: false
            capabilities:
              add: [NET_BIND_SERVICE]
              drop: [ALL]
            readOnlyRootFilesystem: true
          livenessProbe:
            httpGet: {{path: /health, port: 8080}}
            initialDelaySeconds: 10
          readinessProbe:
            httpGet: {{path: /ready, port: 8181}}
            periodSeconds: 2
          volumeMounts:
            - {{name: config, mountPath: /etc/coredns, readOnly: true}}
      volumes:
        - name: config
          configMap:
            name: coredns
---
apiVersion: v1
kind: Service
metadata:
  name: kube-dns
  namespace: kube-system
  labels:
    k8s-app: kube-dns
spec:
  clusterIP: {config.DNS_SERVICE_IP}
  selector:
    k8s-app: kube-dns
  ports:
    - {{name: dns, port: 53, protocol: UDP}}
    - {{name: dns-tcp, port: 53, protocol: TCP}}
"""

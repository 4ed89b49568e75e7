"""Config files and command lines of every component, as pure functions of a :class:`Layout`.

Choices that this machine forces (see docs/DEPLOY.md, "A real node on this machine"):
- containerd ``restrict_oom_score_adj``: the VM's bounding set lacks CAP_SYS_RESOURCE, so a
  negative oom_score_adj is refused and every sandbox dies with "can't get final child's PID
  from pipe: EOF"; kube-proxy's ``oomScoreAdj: 0`` for the same reason.
- cgroup v1 with the cgroupfs driver (no systemd): ``failCgroupV1: false``.
- The node's address is on a link of its own (an empty bridge), so nothing binds to eth0, and
  CoreDNS has no ``forward``: cluster traffic stays on this machine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PAUSE_IMAGE = "registry.k8s.io/pause:3.10"


@dataclass(frozen=True)
class Layout:
    """Where everything of one cluster lives, and its addresses."""

    run: Path
    node: str = "catmatch-node"
    node_link: str = "cmk-node"  # an empty bridge holding node_ip
    node_ip: str = "10.245.0.1"
    bridge: str = "cmk0"
    pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/16"
    api_service_ip: str = "10.96.0.1"
    dns_ip: str = "10.96.0.10"
    api_port: int = 6443
    etcd_port: int = 12379
    etcd_peer_port: int = 12380
    cni_network: str = "catmatch"

    @property
    def pki(self) -> Path:
        return self.run / "pki"

    @property
    def logs(self) -> Path:
        return self.run / "logs"

    @property
    def containerd_sock(self) -> Path:
        return self.run / "containerd" / "containerd.sock"

    @property
    def api_url(self) -> str:
        return f"https://{self.node_ip}:{self.api_port}"

    def config(self, name: str) -> Path:
        return self.run / "config" / name

    def kubeconfig(self, user: str) -> Path:
        return self.run / "config" / f"{user}.kubeconfig"


def _toml_str(value: str | Path) -> str:
    return json.dumps(str(value))  # a TOML basic string is a JSON string


def containerd_config(lay: Layout) -> str:
    """containerd 1.6 (config version 2): its own root, state, sockets and runc root."""
    c = lay.run / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = {_toml_str(c / "root")}
state = {_toml_str(c / "state")}
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", \
"io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = {_toml_str(lay.containerd_sock)}

[ttrpc]
  address = {_toml_str(str(lay.containerd_sock) + ".ttrpc")}

[plugins."io.containerd.internal.v1.opt"]
  path = {_toml_str(c / "opt")}

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = {_toml_str(c / "runc")}

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = {_toml_str(lay.run / "cni" / "net.d")}
"""


def cni_conflist(lay: Layout) -> str:
    """A bridge with the node as gateway, host-local addresses (state in the run dir),
    portmap for hostPorts. No masquerade: nothing is meant to leave the machine."""
    conf = {
        "cniVersion": "1.0.0",
        "name": lay.cni_network,
        "plugins": [
            {
                "type": "bridge",
                "bridge": lay.bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": lay.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(lay.run / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    return json.dumps(conf, indent=2) + "\n"


def etcd_args(lay: Layout) -> list[str]:
    client = f"http://127.0.0.1:{lay.etcd_port}"
    peer = f"http://127.0.0.1:{lay.etcd_peer_port}"
    return [
        "--name=catmatch",
        f"--data-dir={lay.run / 'etcd'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=catmatch={peer}",
        "--logger=zap",
        "--log-level=warn",
    ]


def apiserver_args(lay: Layout) -> list[str]:
    p = lay.pki
    return [
        f"--etcd-servers=http://127.0.0.1:{lay.etcd_port}",
        f"--bind-address={lay.node_ip}",
        f"--advertise-address={lay.node_ip}",
        f"--secure-port={lay.api_port}",
        f"--cert-dir={p}",
        f"--tls-cert-file={p / 'apiserver.crt'}",
        f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--kubelet-client-certificate={p / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={p / 'apiserver-kubelet-client.key'}",
        f"--kubelet-certificate-authority={p / 'ca.crt'}",
        # The hostname resolves to 127.0.0.1 here; nodes/<name>/proxy refuses that address.
        "--kubelet-preferred-address-types=InternalIP,Hostname,ExternalIP",
        "--authorization-mode=Node,RBAC",
        "--enable-admission-plugins=NodeRestriction",
        "--allow-privileged=true",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-cluster-ip-range={lay.service_cidr}",
        f"--requestheader-client-ca-file={p / 'front-proxy-ca.crt'}",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-username-headers=X-Remote-User",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        f"--proxy-client-cert-file={p / 'front-proxy-client.crt'}",
        f"--proxy-client-key-file={p / 'front-proxy-client.key'}",
        "--enable-aggregator-routing=true",
        "--profiling=false",
    ]


def _control_plane_common(lay: Layout, user: str) -> list[str]:
    kubeconfig = lay.kubeconfig(user)
    return [
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--leader-elect=false",
        "--profiling=false",
    ]


def controller_manager_args(lay: Layout) -> list[str]:
    p = lay.pki
    return [
        *_control_plane_common(lay, "controller-manager"),
        f"--root-ca-file={p / 'ca.crt'}",
        f"--service-account-private-key-file={p / 'sa.key'}",
        f"--cluster-signing-cert-file={p / 'ca.crt'}",
        f"--cluster-signing-key-file={p / 'ca.key'}",
        "--use-service-account-credentials=true",
        f"--service-cluster-ip-range={lay.service_cidr}",
        "--allocate-node-cidrs=false",  # the CNI config holds the node's one pod range
        # It creates this folder when missing; the default is /usr/libexec/kubernetes/...
        f"--flex-volume-plugin-dir={lay.run / 'kubelet' / 'volume-plugins'}",
    ]


def scheduler_args(lay: Layout) -> list[str]:
    return _control_plane_common(lay, "scheduler")


def kubelet_config(lay: Layout) -> str:
    """KubeletConfiguration: cgroupfs on cgroup v1, swap allowed, low eviction thresholds,
    images never garbage-collected (none can be pulled again here)."""
    p = lay.pki
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": lay.node_ip,
        "port": 10250,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "readOnlyPort": 0,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(p / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(p / "kubelet.crt"),
        "tlsPrivateKeyFile": str(p / "kubelet.key"),
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{lay.containerd_sock}",
        "clusterDNS": [lay.dns_ip],
        "clusterDomain": "cluster.local",
        "resolvConf": "",  # no upstream resolver: pods see CoreDNS only
        "podLogsDir": str(lay.run / "pod-logs"),
        "volumePluginDir": str(lay.run / "kubelet" / "volume-plugins"),
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "registerNode": True,
        "maxPods": 60,
    }
    return json.dumps(config, indent=2) + "\n"


def kubelet_args(lay: Layout) -> list[str]:
    return [
        f"--config={lay.config('kubelet.yaml')}",
        f"--kubeconfig={lay.kubeconfig('kubelet')}",
        f"--root-dir={lay.run / 'kubelet'}",
        f"--hostname-override={lay.node}",
        f"--node-ip={lay.node_ip}",
        f"--cert-dir={lay.pki}",
    ]


def kube_proxy_config(lay: Layout) -> str:
    """iptables mode; no conntrack or localhost-NodePort sysctls; NodePorts on the node IP."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "clientConnection": {"kubeconfig": str(lay.kubeconfig("kube-proxy"))},
        "hostnameOverride": lay.node,
        "bindAddress": lay.node_ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "clusterCIDR": lay.pod_cidr,
        "nodePortAddresses": [f"{lay.node_ip}/32"],
        "oomScoreAdj": 0,
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        "iptables": {"localhostNodePorts": False, "minSyncPeriod": "1s", "syncPeriod": "30s"},
    }
    return json.dumps(config, indent=2) + "\n"


def kube_proxy_args(lay: Layout) -> list[str]:
    return [f"--config={lay.config('kube-proxy.yaml')}"]


def isolation_rules(lay: Layout) -> list[list[str]]:
    """iptables commands that keep pods' traffic on this machine (``down`` restores the
    saved rule set, which drops them again)."""
    return [
        ["-N", "CATMATCH-ISOLATE"],
        ["-A", "CATMATCH-ISOLATE", "-i", lay.bridge, "-o", lay.bridge, "-j", "RETURN"],
        ["-A", "CATMATCH-ISOLATE", "-i", lay.bridge, "-j", "REJECT"],
        ["-I", "FORWARD", "1", "-j", "CATMATCH-ISOLATE"],
    ]

"""scripts/localkube: the rendered configs, certificates, manifests and image commands."""

from __future__ import annotations

import json
import re
import sys
import tomllib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

from localkube import images, manifests, pki, render  # noqa: E402
from localkube.render import Layout  # noqa: E402

RUN = Path("/tmp/cm-test-run")  # noqa: S108 (never created: the functions are pure)
LAY = Layout(run=RUN)


def _paths_in(text: str) -> set[str]:
    return set(re.findall(r"(/[\w.@-]+(?:/[\w.@-]+)+)", text))


def test_containerd_keeps_everything_under_the_run_dir_and_works_in_this_vm() -> None:
    text = render.containerd_config(LAY)
    conf = tomllib.loads(text)
    cri = conf["plugins"]["io.containerd.grpc.v1.cri"]
    assert conf["version"] == 2
    assert cri["restrict_oom_score_adj"] is True  # no CAP_SYS_RESOURCE in this VM
    assert cri["sandbox_image"] == render.PAUSE_IMAGE
    assert cri["containerd"]["snapshotter"] == "overlayfs"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["options"]["SystemdCgroup"] is False
    assert cri["cni"]["bin_dir"] == "/usr/lib/cni"
    for key in ("root", "state"):
        assert conf[key].startswith(str(RUN))
    assert conf["grpc"]["address"] == str(LAY.containerd_sock)
    assert runc["options"]["Root"].startswith(str(RUN))  # not /run/containerd/runc
    outside = {p for p in _paths_in(text) if not p.startswith((str(RUN), "/usr/lib/cni"))}
    assert outside == set()


def test_cni_is_a_bridge_with_local_state_and_no_masquerade() -> None:
    conf = json.loads(render.cni_conflist(LAY))
    bridge, portmap = conf["plugins"]
    assert bridge["type"] == "bridge" and bridge["bridge"] == LAY.bridge
    assert bridge["isGateway"] is True and bridge["ipMasq"] is False
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["ranges"] == [[{"subnet": LAY.pod_cidr}]]
    assert bridge["ipam"]["dataDir"].startswith(str(RUN))
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}


def test_kubelet_runs_on_cgroupfs_v1_with_swap_and_keeps_images() -> None:
    conf = json.loads(render.kubelet_config(LAY))
    assert conf["cgroupDriver"] == "cgroupfs"
    assert conf["failCgroupV1"] is False and conf["failSwapOn"] is False
    assert conf["containerRuntimeEndpoint"] == f"unix://{LAY.containerd_sock}"
    assert conf["clusterDNS"] == [LAY.dns_ip]
    assert conf["address"] == LAY.node_ip and conf["healthzBindAddress"] == "127.0.0.1"
    assert conf["authentication"]["anonymous"]["enabled"] is False
    assert conf["imageGCHighThresholdPercent"] == 100
    eviction = conf["evictionHard"]
    assert eviction["memory.available"] == "100Mi" and eviction["nodefs.available"] == "1%"
    args = render.kubelet_args(LAY)
    assert f"--root-dir={RUN / 'kubelet'}" in args
    assert f"--node-ip={LAY.node_ip}" in args


def test_kube_proxy_leaves_conntrack_and_oom_alone() -> None:
    conf = json.loads(render.kube_proxy_config(LAY))
    assert conf["mode"] == "iptables"
    assert conf["oomScoreAdj"] == 0
    assert conf["conntrack"] == {
        "maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s",
    }
    assert conf["iptables"]["localhostNodePorts"] is False
    assert conf["nodePortAddresses"] == [f"{LAY.node_ip}/32"]


def test_control_plane_flags() -> None:
    api = render.apiserver_args(LAY)
    assert "--kubelet-preferred-address-types=InternalIP,Hostname,ExternalIP" in api
    assert "--authorization-mode=Node,RBAC" in api
    assert f"--bind-address={LAY.node_ip}" in api
    assert f"--service-cluster-ip-range={LAY.service_cidr}" in api
    flags = [a.split("=", 1)[0] for a in api]
    assert len(flags) == len(set(flags))
    for args in (render.controller_manager_args(LAY), render.scheduler_args(LAY)):
        assert "--bind-address=127.0.0.1" in args and "--leader-elect=false" in args
    files = [a.split("=", 1)[1] for a in api + render.etcd_args(LAY) if "=/" in a]
    assert files and all(f.startswith(str(RUN)) for f in files)


def test_isolation_rules_let_pods_talk_to_pods_only_on_the_bridge() -> None:
    rules = render.isolation_rules(LAY)
    assert rules[0] == ["-N", "CATMATCH-ISOLATE"]
    assert rules[-1] == ["-I", "FORWARD", "1", "-j", "CATMATCH-ISOLATE"]
    bridge_to_bridge, leaving = rules[1], rules[2]
    assert bridge_to_bridge[-1] == "RETURN" and "-o" in bridge_to_bridge
    assert leaving[-1] == "REJECT" and "-o" not in leaving


def test_certificates_name_the_users_rbac_expects() -> None:
    certs = {c.name: c for c in pki.certs(LAY.node, LAY.node_ip, LAY.api_service_ip)}
    assert len(certs) == len(pki.certs(LAY.node, LAY.node_ip, LAY.api_service_ip))
    assert pki.subject(certs["kubelet-client"]) == f"/O=system:nodes/CN=system:node:{LAY.node}"
    assert pki.subject(certs["admin"]) == "/O=system:masters/CN=catmatch-admin"
    assert certs["scheduler"].cn == "system:kube-scheduler"
    assert certs["kube-proxy"].cn == "system:kube-proxy"
    assert certs["front-proxy-client"].ca == "front-proxy-ca"
    api = pki.extensions(certs["apiserver"])
    for san in (f"IP:{LAY.node_ip}", f"IP:{LAY.api_service_ip}", "DNS:kubernetes.default.svc"):
        assert san in api
    assert "extendedKeyUsage=serverAuth" in api
    assert "extendedKeyUsage=clientAuth" in pki.extensions(certs["admin"])
    assert "subjectAltName" not in pki.extensions(certs["admin"])


def test_kubeconfig_points_at_the_node_address() -> None:
    conf = json.loads(pki.kubeconfig(LAY.api_url, RUN / "ca.crt", RUN / "a.crt", RUN / "a.key"))
    assert conf["clusters"][0]["cluster"]["server"] == f"https://{LAY.node_ip}:6443"
    assert conf["users"][0]["user"]["client-key"] == str(RUN / "a.key")


def test_coredns_serves_the_cluster_zone_only() -> None:
    objs = {o["kind"]: o for o in manifests.coredns(LAY, images.COREDNS_IMAGE)}
    corefile = objs["ConfigMap"]["data"]["Corefile"]
    assert "kubernetes cluster.local" in corefile
    assert "forward" not in corefile  # nothing leaves the machine
    assert objs["Service"]["spec"]["clusterIP"] == LAY.dns_ip
    pod = objs["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["imagePullPolicy"] == "Never"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["runAsNonRoot"] is True
    assert pod["dnsPolicy"] == "Default"
    ports = {p["targetPort"] for p in objs["Service"]["spec"]["ports"]}
    assert ports == {manifests.DNS_PORT} and manifests.DNS_PORT > 1024


def test_smoke_pods_meet_the_restricted_profile() -> None:
    objs = manifests.smoke(images.BASE_IMAGE, LAY.api_service_ip)
    kinds = [o["kind"] for o in objs]
    assert kinds == ["Namespace", "Pod", "Service", "Pod"]
    assert objs[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for pod in (objs[1], objs[3]):
        container = pod["spec"]["containers"][0]
        assert container["image"] == images.BASE_IMAGE
        assert container["imagePullPolicy"] == "Never"
        assert container["securityContext"]["runAsUser"] != 0
    assert objs[3]["spec"]["containers"][0]["command"][-1] == LAY.api_service_ip


def test_buildah_command_never_pulls_and_passes_the_base() -> None:
    wanted = images.app_images("reg.example", "0.1.0", "var/models/seed", "seed", torch=True)
    assert [i.name for i in wanted] == [
        "reg.example/category-match-worker:0.1.0",
        "reg.example/category-match-worker:0.1.0-seed",
        "reg.example/category-match-predictor:0.1.0",
        "reg.example/category-match-predictor:0.1.0-seed",
    ]
    cmd = images.bud_command(wanted[3], Path("/repo"), ["--volume", "a:b:ro"])
    assert cmd[:7] == ["buildah", "bud", "--pull-never", "--isolation", "chroot", "--layers", "-f"]
    assert f"BASE_IMAGE={images.BASE_IMAGE}" in cmd
    assert "MODEL_DIR=var/models/seed" in cmd and "TORCH_INDEX_URL=" in cmd
    assert "--target" not in cmd
    assert cmd[-3:] == ["--volume", "a:b:ro", "/repo"]
    store = images.bud_command(wanted[2], Path("/repo"))
    assert store[store.index("--target") + 1] == "store"
    # The same arguments for both targets: the baked build reuses the store build's layers.
    def build_args(command: list[str]) -> list[str]:
        return [command[i + 1] for i, a in enumerate(command) if a == "--build-arg"]

    assert build_args(store) == build_args(images.bud_command(wanted[3], Path("/repo")))


def test_the_node_predictor_is_the_cpu_image_with_the_onnx_model() -> None:
    wanted = images.app_images("reg.example", "0.1.0", "var/models/seed", "seed",
                               onnx_dir="var/models/seed-onnx")  # fmt: skip
    dev = [i for i in wanted if "category-match/predictor:dev" in i.aliases]
    assert [i.name for i in dev] == ["reg.example/category-match-predictor:0.1.0-seed-onnx"]
    cmd = images.bud_command(dev[0], Path("/repo"))
    for arg in ("EXTRA=serve-cpu", "RUNTIME=onnx", "MODEL_DIR=var/models/seed-onnx",
                "TORCH_INDEX_URL="):
        assert arg in cmd
    assert not any("torch" in i.name for i in wanted)


@pytest.mark.parametrize("var", ["PIP_CERT", "REQUESTS_CA_BUNDLE"])
def test_a_host_ca_bundle_is_mounted_for_the_build_only(
    var: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    assert images.host_ca_mounts() == []
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv(var, str(bundle))
    mounts = images.host_ca_mounts()
    assert mounts[:2] == ["--volume", f"{bundle}:/etc/ssl/certs/ca-certificates.crt:ro"]
    assert mounts[2:] == ["--build-arg", "PIP_BUILD_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"]


@pytest.mark.parametrize(
    ("ref", "normal"),
    [
        ("category-match/worker:dev", "docker.io/category-match/worker:dev"),
        ("busybox:1", "docker.io/library/busybox:1"),
        ("ghcr.io/category-match/category-match-worker:0.1.0", None),
        ("localhost/catmatch/coredns:v1.15.0", None),
        ("registry.k8s.io/pause:3.10", None),
        ("127.0.0.1:5000/x:1", None),
    ],
)
def test_aliases_are_written_as_the_cri_looks_them_up(ref: str, normal: str | None) -> None:
    assert images.normalize(ref) == (normal or ref)


def test_the_kafka_image_meets_the_dev_kafka_charts_contract() -> None:
    """docs/DEPLOY.md §10: Java 17+, /bin/sh, the jars in /opt/kafka/libs, uid 1000."""
    from tests.unit.dockerlint import instructions, lint

    repo = Path(__file__).resolve().parents[2]
    dockerfile = repo / "docker" / "kafka.Dockerfile"
    assert lint(dockerfile, repo) == []
    steps = instructions(dockerfile.read_text())
    assert ("USER", "1000:1000") in steps
    assert any(k == "COPY" and a.endswith("/opt/kafka/libs/") for k, a in steps)
    assert any(k == "RUN" and "openjdk-17-jre-headless" in a for k, a in steps)
    assert not any(k == "ENTRYPOINT" for k, _ in steps)  # the chart runs start.sh
    image = images.kafka_image()
    assert images.normalize("category-match/kafka:dev") == image.name
    assert image.build_args and image.build_args["KAFKA_LIBS"] == images.KAFKA_LIBS
    assert f"!{images.KAFKA_LIBS.rsplit('/', 1)[0]}" in (repo / ".dockerignore").read_text()

#!/usr/bin/env python3
"""A real single-node Kubernetes v1.32 on this machine, everything built from source.

    python scripts/cluster.py build [--operators]   # packages, binaries, images; cached
    sudo python scripts/cluster.py up [--check]     # start (idempotent); --check: smoke test
    python scripts/cluster.py status                # components, PIDs, RSS, node, pods
    sudo python scripts/cluster.py down [--purge]   # stop and undo every host change
    python scripts/cluster.py images                # `make images`: worker + predictor
    sudo python scripts/cluster.py prepare          # `make cluster-prepare`: all test-cluster needs
    python scripts/cluster.py builds                # recorded build times
    sudo python scripts/cluster.py operators [--check]  # KServe controller + KEDA on the node
    sudo python scripts/cluster.py install          # dev Kafka + the chart (ci/node-values.yaml)
    sudo python scripts/cluster.py uninstall [--operators]  # the releases (and the operators)

Kubernetes (kubelet, kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy,
kubectl) and CoreDNS are built from the Go module proxy; containerd, runc, the CNI plugins,
etcd and the image tools come from Debian. Pods get addresses on a bridge of their own and
their traffic stays on this machine. See docs/DEPLOY.md, "A real node on this machine".
Standard library only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localkube import gobuild, images, keda, kserve, paths, prepare, release, smoke, targets  # noqa: E402
from localkube.node import Node, prepare_binaries  # noqa: E402
from localkube.proc import NotReady, Unavailable, log  # noqa: E402
from localkube.render import Layout  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _node(args: argparse.Namespace) -> Node:
    return Node(Layout(run=Path(args.run_dir)))


def cmd_build(args: argparse.Namespace) -> int:
    if args.operators:
        names = args.only or [t.name for t in targets.OPERATORS]
        chosen = [targets.ALL[n] for n in names]
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(_build_one, chosen))
        freed = gobuild.prune_build_cache()
        log(f"operators built: {', '.join(results)}; build cache freed {freed / 2**30:.1f} GiB")
        return 0
    bins = prepare_binaries()
    images.pause_image()
    images.coredns_image(bins.coredns)
    images.base_image()
    log(f"binaries and images ready under {paths.ROOT}")
    return 0


def _build_one(target: gobuild.GoTarget) -> str:
    built = gobuild.ensure(target)
    return f"{target.key} ({len(built)} binaries)"


def cmd_up(args: argparse.Namespace) -> int:
    node = _node(args)
    timings = node.up()
    log(f"up in {timings['total_s']} s: {json.dumps(timings)}")
    if args.check:
        result = smoke.check(node)
        log(f"smoke check passed: {json.dumps(result)}")
    print(f"export KUBECONFIG={node.lay.kubeconfig('admin')}")
    print(f"# kubectl: {node.bins.kubectl}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    node = _node(args)
    if not node.running("kube-apiserver"):
        raise SystemExit("the cluster is not running: scripts/cluster.py up")
    log(f"smoke check passed: {json.dumps(smoke.check(node))}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    node = _node(args)
    for line in node.down(purge=args.purge):
        log(line)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    node = _node(args)
    for line in node.status():
        print(line)
    if args.rss:
        print(json.dumps(node.rss_mib()))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    """Build the project's images FROM the local Debian base and hand them to the node."""
    model_dir = Path(args.model_dir)
    onnx_dir = model_dir.with_name(model_dir.name + "-onnx")
    prepare.ensure_seed_model(REPO, REPO / model_dir)
    prepare.ensure_onnx(REPO, REPO / model_dir, REPO / onnx_dir)
    node = _node(args)
    sock = node.lay.containerd_sock if node.running("containerd") else None
    wanted = prepare.wanted_images(str(model_dir), str(onnx_dir), torch=args.torch,
                                   registry=args.registry, tag=args.tag,
                                   model_version=args.model_version)  # fmt: skip
    if args.only:
        wanted = [i for i in wanted if any(o in i.name for o in args.only)]
    prepare.app_images_step(REPO, node.lay.run, sock, wanted)
    if sock is None:
        log("the node is not running: `up` imports the new builds from " + str(paths.IMAGES))
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    """Everything `make test-cluster` needs (localkube.prepare); waits for a running one."""
    node = Node(Layout(run=Path(args.run_dir)))
    sock = node.lay.containerd_sock if node.running("containerd") else None
    done = prepare.prepare(REPO, node.lay.run, sock)
    worked = [name for name, step in done.items() if step["did_work"]]
    log(f"prepared ({', '.join(worked) or 'everything was cached'}): "
        f"{sum(s['wall_s'] for s in done.values()):.0f} s")  # fmt: skip
    return 0


OPERATORS = {"kserve": (kserve.install, kserve.uninstall), "keda": (keda.install, keda.uninstall)}


def cmd_operators(args: argparse.Namespace) -> int:
    """KServe's controller and KEDA from the binaries `build --operators` made."""
    node = _running(args)
    for name in args.only or list(OPERATORS):
        steps = OPERATORS[name][0](node)
        log(f"{name} ready: {json.dumps(steps)}")
    if args.check:
        log(f"KServe check passed: {json.dumps(kserve.check(node, images.BASE_IMAGE))}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    """The dev Kafka and the chart with ci/node-values.yaml, in a restricted namespace."""
    node = _running(args)
    steps = release.install(node, args.set)
    log(f"installed in namespace {release.NAMESPACE}: {json.dumps(steps)}")
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    node = _running(args)
    release.uninstall(node)
    log(f"releases and namespace {release.NAMESPACE} deleted")
    if args.operators:
        for name, (_, remove) in OPERATORS.items():
            remove(node)
            log(f"{name} deleted")
    return 0


def _running(args: argparse.Namespace) -> Node:
    node = _node(args)
    if not node.running("kube-apiserver"):
        raise SystemExit("the cluster is not running: scripts/cluster.py up")
    return node


def cmd_builds(_args: argparse.Namespace) -> int:
    for r in gobuild.records():
        if "modules_s" not in r:  # a prepare step (localkube.prepare), not a Go build
            print(f"{r['target']:<28} wall {r['wall_s']:>6} s  load {r.get('loadavg_1m')}  "
                  f"{r.get('finished', '')}")  # fmt: skip
            continue
        cold = "cold" if r.get("cold_build_cache") else "warm"
        binaries = ",".join(str(b) for b in r.get("binaries") or [])
        print(
            f"{r['target']:<28} {cold}  wall {r['wall_s']:>6} s  modules {r['modules_s']:>5} s  "
            f"compile {r['compile_s']:>6} s  {int(str(r['bytes'])) / 2**20:>5.0f} MiB  "
            f"load {r.get('loadavg_1m')}  {binaries}"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--run-dir", default=str(paths.RUN), help="default: %(default)s")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("build", help="install packages, build binaries and base images")
    p.add_argument("--operators", action="store_true", help="KServe, Knative, KEDA, Argo CD")
    p.add_argument("--only", nargs="+", choices=[t.name for t in targets.OPERATORS])
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("up", help="start the cluster (idempotent)")
    p.add_argument("--check", action="store_true", help="then run the smoke check")
    p.set_defaults(func=cmd_up)
    sub.add_parser("check", help="the smoke check on the running cluster").set_defaults(
        func=cmd_check
    )
    p = sub.add_parser("down", help="stop it and undo the host changes")
    p.add_argument("--purge", action="store_true", help="also delete the run directory")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("status", help="components, PIDs, node readiness, pods")
    p.add_argument("--rss", action="store_true", help="print resident memory as JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("images", help="build the worker, predictor and Kafka images (make images)")
    p.add_argument("--model-dir", default="var/models/seed", help="relative to the repo")
    p.add_argument("--model-version", default="seed")
    p.add_argument("--registry", default="ghcr.io/category-match")
    p.add_argument("--tag", default="0.1.0")
    p.add_argument("--only", nargs="+", help="substrings of the image names to build")
    p.add_argument("--torch", action="store_true",
                   help="also the full torch predictor images (6.4 GiB with PyPI's CUDA torch)")
    p.set_defaults(func=cmd_images)
    sub.add_parser("builds", help="recorded build times").set_defaults(func=cmd_builds)
    sub.add_parser("prepare", help="build everything make test-cluster needs (cached)"
                   ).set_defaults(func=cmd_prepare)  # fmt: skip
    p = sub.add_parser("operators", help="install KServe's controller and KEDA on the node")
    p.add_argument("--only", nargs="+", choices=list(OPERATORS))
    p.add_argument("--check", action="store_true",
                   help="then a Standard-mode InferenceService must go Ready")  # fmt: skip
    p.set_defaults(func=cmd_operators)
    p = sub.add_parser("install", help="the dev Kafka and the chart (ci/node-values.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="more chart values (helm --set)")  # fmt: skip
    p.set_defaults(func=cmd_install)
    p = sub.add_parser("uninstall", help="the chart's and the dev Kafka's releases")
    p.add_argument("--operators", action="store_true", help="KServe and KEDA too")
    p.set_defaults(func=cmd_uninstall)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except (NotReady, Unavailable) as exc:
        print(f"cluster: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

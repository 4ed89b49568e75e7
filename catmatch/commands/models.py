"""``catmatch models``: list, inspect, publish, promote and roll back model versions.

- ``catmatch models list``: versions with creation time, runtime, metrics and where deployed.
- ``catmatch models show REF``: one version's registry entry, files and ``catmatch.json``.
- ``catmatch models publish DIR [--runtime R]``: copy a model directory in as the next version.
- ``catmatch models promote REF --env dev|ops [--note TEXT]``: deploy a version.
- ``catmatch models rollback --env dev|ops``: redeploy the version before the current one.
- ``catmatch models history [--env E]``: deployment events, oldest first.
- ``catmatch models evaluate REF --data FILE.jsonl``: score a version on labelled titles,
  loaded and run exactly as the predictor serves it (any runtime).
- ``catmatch models export NAME REF --runtime onnx [--quantize int8]``: export a transformers
  version to ONNX, check it against torch, and publish it as the next version of ``NAME``.

``REF`` is ``v3``/``3``, ``latest``, ``dev``, ``ops`` or ``production``. Every subcommand
takes ``--store URI`` and ``--name NAME`` (defaults: ``models.store_uri``/``models.name``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import tempfile
from pathlib import Path
from typing import Any

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_actions, add_command
from core.modelformat import read_metadata
from core.names import ENV_ALIASES, ENVS, LATEST, RUNTIMES, Runtime
from core.settings import Settings
from modelstore import ModelStore

ENV_CHOICES = (*ENVS, *ENV_ALIASES)
HEADLINE_HINTS = ("accuracy", "f1", "precision", "recall", "auc", "loss")


def register(sub: Subparsers) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", help="store path or URI (default: models.store_uri)")
    common.add_argument("--name", help="model name (default: models.name)")
    p = add_command(sub, "models", "the versioned model store: list, promote, roll back")
    cmds = add_actions(p, "models_command")

    ls = cmds.add_parser("list", parents=[common], help="versions and where they are deployed")
    ls.set_defaults(func=run_list)
    show = cmds.add_parser("show", parents=[common], help="one version: entry, files, card")
    show.add_argument("ref", nargs="?", default=LATEST, help="v3, 3, latest, dev, ops")
    show.set_defaults(func=run_show)
    pub = cmds.add_parser("publish", parents=[common], help="copy a model dir in as a version")
    pub.add_argument("dir", type=Path, help="complete model directory")
    pub.add_argument("--runtime", choices=RUNTIMES, default=Runtime.TRANSFORMERS.value)
    pub.set_defaults(func=run_publish)
    promote = cmds.add_parser("promote", parents=[common], help="deploy a version to an env")
    promote.add_argument("ref", help="v3, 3, latest, dev (promote what dev runs), ...")
    _deploy_options(promote)
    promote.set_defaults(func=run_promote)
    rollback = cmds.add_parser("rollback", parents=[common], help="back to the previous version")
    _deploy_options(rollback)
    rollback.set_defaults(func=run_rollback)
    history = cmds.add_parser("history", parents=[common], help="deployment events")
    history.add_argument("--env", choices=ENV_CHOICES, help="one environment only")
    history.set_defaults(func=run_history)
    evaluate = cmds.add_parser(
        "evaluate", parents=[common], help="score a version on labelled titles (JSONL)"
    )
    evaluate.add_argument("ref", nargs="?", default=LATEST, help="v3, 3, latest, dev, ops")
    evaluate.add_argument("--data", type=Path, required=True,
                          help="JSONL rows with text and label (name) or label_id")
    evaluate.add_argument("--json", type=Path, help="write the full metrics here")
    evaluate.add_argument("--errors", type=int, default=10, help="mistakes to print")
    evaluate.set_defaults(func=run_evaluate)
    export = cmds.add_parser(
        "export", help="export a transformers version to ONNX and publish it as a new version"
    )
    export.add_argument("name", metavar="NAME", help="model name in the store")
    export.add_argument("ref", metavar="REF", help="v3, 3, latest, dev, ops")
    export.add_argument("--runtime", choices=(Runtime.ONNX.value,), required=True,
                        help="the runtime to export for")
    export.add_argument("--quantize", choices=("none", "int8"), default="none",
                        help="int8: onnxruntime dynamic quantisation of the weights")
    export.add_argument("--store", help="store path or URI (default: models.store_uri)")
    export.add_argument("--opset", type=int, help="ONNX opset, 17 or later (default: 18)")
    export.add_argument("--min-agreement", type=float,
                        help="int8: share of check texts whose label must equal torch's "
                        "(default: 0.85)")
    export.set_defaults(func=run_export)


def _deploy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--env", choices=ENV_CHOICES, required=True)
    p.add_argument("--note", help="why (kept in the history)")
    p.add_argument("--actor", help="who (default: the login name)")


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def _open(args: argparse.Namespace, settings: Settings) -> tuple[ModelStore, str]:
    store = ModelStore.from_uri(args.store or settings.models.store_uri)
    return store, args.name or settings.models.name


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    store, name = _open(args, settings)
    versions = store.versions(name)
    if not versions:
        print(f"no versions of {name} in {store.uri}")
        return 0
    where: dict[str, list[str]] = {}
    for env, version in store.deployed(name).items():
        where.setdefault(version, []).append(env)
    rows = [("VERSION", "CREATED", "RUNTIME", "METRICS", "DEPLOYED")]
    for mv in versions:
        rows.append(
            (
                mv.version,
                mv.created.strftime("%Y-%m-%d %H:%M UTC"),
                mv.runtime,
                format_metrics(mv.metrics) or "-",
                ",".join(sorted(where.get(mv.version, []))) or "-",
            )
        )
    print(f"{name} in {store.uri}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    store, name = _open(args, settings)
    mv = store.resolve(name, args.ref)
    path = store.local_path(name, mv.version)
    card_path = path / "catmatch.json"
    card = json.loads(card_path.read_bytes()) if card_path.is_file() else None
    out = json.loads(mv.model_dump_json(exclude={"files", "path"}))
    out["path"] = str(path)
    out["deployed_to"] = sorted(e for e, v in store.deployed(name).items() if v == mv.version)
    out["files"] = {rel: entry.model_dump() for rel, entry in mv.files.items()}
    out["catmatch.json"] = card
    print(json.dumps(out, indent=2))
    return 0


def run_publish(args: argparse.Namespace, settings: Settings) -> int:
    store, name = _open(args, settings)
    try:
        card = read_metadata(args.dir) if args.dir.is_dir() else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    metrics = headline_metrics(card.metrics if card else {})
    info: dict[str, Any] = {}
    if card is not None:
        info = {"source_name": card.name, "source_version": card.version}
        info |= {"base_model": card.base_model, "data_hash": card.data_hash}
        info = {k: v for k, v in info.items() if v is not None}
    mv = store.publish(name, args.dir, runtime=args.runtime, metrics=metrics, info=info)
    print(f"published {name} {mv.version} ({mv.uri})")
    return 0


def run_promote(args: argparse.Namespace, settings: Settings) -> int:
    store, name = _open(args, settings)
    version = store.resolve(name, args.ref).version
    event = store.promote(name, version, args.env, actor=args.actor or _user(), note=args.note)
    print(
        f"promoted {name} {event.version} to {event.env} (was {event.previous_version or 'none'})"
    )
    return 0


def run_rollback(args: argparse.Namespace, settings: Settings) -> int:
    store, name = _open(args, settings)
    event = store.rollback(name, args.env, actor=args.actor or _user(), note=args.note)
    print(f"rolled back {name} in {event.env} from {event.previous_version} to {event.version}")
    return 0


def run_history(args: argparse.Namespace, settings: Settings) -> int:
    store, name = _open(args, settings)
    events = store.history(name, args.env)
    if not events:
        where = f" in {args.env}" if args.env else ""
        raise UserError(f"no deployments of {name}{where} yet")
    for event in events:
        line = (
            f"{event.at.strftime('%Y-%m-%d %H:%M:%S UTC')}  {event.env:<3}  {event.action:<8}  "
            f"{event.version} (was {event.previous_version or 'none'})"
        )
        if event.actor:
            line += f"  by {event.actor}"
        if event.note:
            line += f"  {event.note!r}"
        print(line)
    return 0


def run_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    # numpy and the runtime's stack (torch or sklearn): only when evaluating
    from predictor.runtimes import load_runtime
    from training.evaluate import evaluate_served, read_labelled

    store, name = _open(args, settings)
    mv = store.resolve(name, args.ref)
    try:
        texts, gold = read_labelled(args.data)
        model = load_runtime(store.local_path(name, mv.version), device="cpu")
        metrics = evaluate_served(model, texts, gold, show_errors=max(args.errors, 0))
    except (OSError, ValueError) as exc:
        raise UserError(str(exc)) from None
    print(
        f"{name} {mv.version} ({model.runtime}) on {args.data}: {metrics['examples']} titles, "
        f"accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
        f"{metrics['latency_ms_per_text']:.2f} ms/text (CPU, batch 32)"
    )
    scored = [(f, c) for c, f in metrics["per_class_f1"].items() if metrics["support"][c]]
    print("lowest F1: " + ", ".join(f"{c} {f:.2f}" for f, c in sorted(scored)[:5]))
    for err in metrics["errors"]:
        print(f"  {err['text'][:60]!r}: {err['label']} -> predicted {err['predicted']}")
    if args.json:
        args.json.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
        print(f"metrics written to {args.json}")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    # torch, onnx and onnxruntime: only when exporting
    from training.onnx_export import QUANTIZE_OPTIONS, export_onnx

    store, name = _open(args, settings)
    mv = store.resolve(name, args.ref)
    if mv.runtime != Runtime.TRANSFORMERS:
        raise UserError(f"{name} {mv.version} is a {mv.runtime} version; export a transformers one")
    quantization = QUANTIZE_OPTIONS[args.quantize]
    options: dict[str, Any] = {}
    if args.opset is not None:
        options["opset"] = args.opset
    if args.min_agreement is not None:
        options["min_agreement"] = args.min_agreement
    with tempfile.TemporaryDirectory(prefix="catmatch-export-") as work:
        try:
            result = export_onnx(
                store.local_path(name, mv.version),
                Path(work) / "onnx",
                quantization=quantization,
                **options,
            )
        except (OSError, ValueError) as exc:
            raise UserError(str(exc)) from None
        check = result.check
        card = read_metadata(result.out)
        info: dict[str, Any] = {
            "source_version": mv.version,
            "quantization": quantization,
            "onnx_opset": result.opset,
            "export_check": check.as_card(),
        }
        new = store.publish(
            name,
            result.out,
            runtime=Runtime.ONNX.value,
            metrics=headline_metrics(card.metrics if card else {}),
            info=info,
        )
    print(
        f"exported {name} {mv.version} to ONNX ({quantization}) in {result.seconds:.0f} s: "
        f"{check.texts} check texts, max |logit diff| {check.max_abs_diff:.2g}, "
        f"same label {check.argmax_agreement:.1%}"
    )
    print(f"published {name} {new.version} ({new.uri})")
    return 0


def headline_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The numbers worth a column: accuracy, F1, precision, recall, AUC, loss."""
    return {
        key: value
        for key, value in metrics.items()
        if isinstance(value, int | float) and any(h in key.lower() for h in HEADLINE_HINTS)
    }


def format_metrics(metrics: dict[str, Any], limit: int = 4) -> str:
    """``accuracy=0.93 macro_f1=0.91`` (numbers to 4 significant digits, at most ``limit``)."""
    parts = []
    for key, value in metrics.items():
        if isinstance(value, dict | list):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    more = len(parts) - limit
    return " ".join(parts[:limit]) + (f" (+{more})" if more > 0 else "")

"""``catmatch drill``: inject faults and hostile input into a real pipeline, and count.

    catmatch drill list
    catmatch drill run broker-restart worker-kill --products 2000 --guarantee both
    catmatch drill run --all --json > drills.json

Each drill starts its own broker (or 3-node cluster), predictor and workers on loopback in
``--work-dir``, runs, stops everything, and prints one line per drill and guarantee. Exit
code 1 when any drill lost a product, duplicated one under exactly-once, dead-lettered a
valid product, missed a hostile one, left offsets uncommitted or (in a drill whose predictor
requires a token, such as ``token-rotation``) got a batch refused with 401/403.
docs/RELIABILITY.md lists the drills with their measured figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_actions, add_command
from core.settings import Settings
from toolbox.drills.pipeline import DrillOptions
from toolbox.drills.scenarios import DRILLS, DrillReport, run_drill
from toolbox.harness.stack import fresh_dir
from toolbox.models import ensure_tiny_model

GUARANTEES = ("at_least_once", "exactly_once")
COLUMNS = ("drill", "guarantee", "products", "distinct", "duplicates", "lost",
           "dead_letters", "hostile_dead_lettered", "valid_dead_lettered", "recovered_s",
           "drained_s", "committed_to_end", "worker_restarts", "unauthorized", "wall_s")


def register(sub: Subparsers) -> None:
    p = add_command(sub, "drill", "fault drills on a real pipeline: kill, restart, refuse")
    actions = add_actions(p, "drill_command")
    listing = add_command(actions, "list", "the drills")
    listing.set_defaults(func=run_list)
    run = add_command(actions, "run", "run drills and print what came out")
    run.add_argument("names", nargs="*", help="drills to run (see list)")
    run.add_argument("--all", action="store_true", help="every drill")
    run.add_argument("--products", type=int, default=2000)
    run.add_argument("--rate", type=float, default=200.0, help="products/s while producing")
    run.add_argument("--guarantee", choices=(*GUARANTEES, "both"), default="both")
    run.add_argument("--workers", type=int, default=2, help="worker processes = partitions")
    run.add_argument("--model-dir", type=Path,
                     help="model to serve (default: a tiny model built in the work dir)")
    run.add_argument("--work-dir", type=Path, default=Path("var/drills"))
    run.add_argument("--timeout", type=float, default=300.0,
                     help="seconds to wait for every result after the fault")
    run.add_argument("--json", action="store_true", help="one JSON object per line")
    run.add_argument("--security", choices=("none", "sasl_plaintext", "sasl_ssl"),
                     default="none",
                     help="secure the drill's broker: workers and the drill's own clients log "
                     "in as users with only their roles' ACLs (the login and ACL drills "
                     "always run secured)")
    run.set_defaults(func=run_drills)


def run_list(args: argparse.Namespace, settings: Settings) -> int:
    for drill in DRILLS.values():
        print(f"{drill.name:<16} {drill.about}")
    return 0


def run_drills(args: argparse.Namespace, settings: Settings) -> int:
    names = list(DRILLS) if args.all else args.names
    unknown = [n for n in names if n not in DRILLS]
    if not names or unknown:
        raise UserError(f"name drills to run (or --all): {', '.join(DRILLS)}")
    if args.products < 1 or args.rate <= 0 or args.workers < 1:
        raise UserError("--products, --rate and --workers must be positive")
    model_dir = args.model_dir or ensure_tiny_model(args.work_dir / "model")
    guarantees = GUARANTEES if args.guarantee == "both" else (args.guarantee,)
    reports: list[DrillReport] = []
    if not args.json:
        print("  ".join(COLUMNS))
    for name in names:
        for guarantee in guarantees:
            work = fresh_dir(args.work_dir / f"{name}-{guarantee}")
            options = DrillOptions(model_dir=model_dir, work_dir=work, products=args.products,
                                   rate=args.rate, guarantee=guarantee, workers=args.workers,
                                   timeout_s=args.timeout, security=args.security)
            report = run_drill(DRILLS[name], options)
            reports.append(report)
            row = report.as_dict()
            print(json.dumps(row) if args.json else "  ".join(str(row[c]) for c in COLUMNS),
                  flush=True)
    return 0 if all(r.passed for r in reports) else 1


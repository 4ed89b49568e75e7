"""``catmatch train``: fine-tune MiniLM and a TF-IDF baseline, evaluate, publish both.

Prepares ``--data`` first when it is missing. On success the transformer is published as the
next version of ``--name`` and the baseline as ``<name>-tfidf`` in the model store
(``--store``); ``--no-publish`` keeps the model directory under ``var/runs/`` instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from catmatch import options
from catmatch.errors import UserError
from core.settings import Settings
from modelstore import StoreError
from training.baseline import BASELINE_LABEL
from training.bases import BASES, DEFAULT_BASE, get_base
from training.candidates import format_table, load_record, with_run


def register(sub: options.Subparsers) -> None:
    p = options.add_command(sub, "train", "fine-tune the classifier (+ baseline) and publish it")
    p.add_argument("--data", type=Path, default=options.DEFAULT_DATA_DIR,
                   help=f"prepared data directory (default {options.DEFAULT_DATA_DIR}; made if "
                   "missing)")
    p.add_argument("--base", choices=sorted(BASES), default=DEFAULT_BASE,
                   help=f"base model to fine-tune (default {DEFAULT_BASE}; docs/TRAINING.md "
                   "compares them)")
    p.add_argument("--epochs", type=int,
                   help="full passes over the training data (default: the base's, 2 for "
                   "both; docs/TRAINING.md)")
    p.add_argument("--max-length", type=int, default=48, help="tokens per text (default 48)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4, help="peak AdamW learning rate")
    p.add_argument("--head-steps", type=int, default=300,
                   help="linear-probe steps on frozen features before fine-tuning (0: none)")
    p.add_argument("--seed", type=int, default=13, help="torch and shuffling seed")
    p.add_argument("--limit", type=int, help="train on N rows (and small eval sets): smoke tests")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--store", help="model store path or URI (default: settings models.store_uri)")
    p.add_argument("--name", help="model name (default: settings models.name)")
    p.add_argument("--ngram-blend", type=float, metavar="W",
                   help="for a base with a Korean route: the route's character n-gram model's "
                   "weight in every English row's score, a geometric mean with the network "
                   "(default training.korean_route.BLEND_WEIGHT, 0.5; 0: the network alone; "
                   "docs/TRAINING.md)")
    p.add_argument("--no-publish", dest="publish", action="store_false",
                   help="keep the model directory under var/runs/ instead of publishing")
    p.add_argument("--runs-dir", type=Path, default=Path("var/runs"), help=argparse.SUPPRESS)
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.add_argument("--handwritten", type=Path,
                   default=Path("data/eval/shop_titles_handwritten.jsonl"),
                   help="labelled JSONL titles to score both models on, never trained on "
                   "(default: the repo's hand-written set, when it exists)")
    data = p.add_argument_group("data (used only when --data must be prepared)")
    options.add_data_arguments(data, "--data-seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    # torch, transformers and sklearn: only when training
    from training.finetune import FinetuneConfig
    from training.korean_route import BLEND_WEIGHT
    from training.run import TrainOptions, run_training

    if args.epochs is None:
        args.epochs = get_base(args.base).epochs
    if args.ngram_blend is None:
        args.ngram_blend = BLEND_WEIGHT

    bad_numbers = args.epochs < 1 or args.batch_size < 1 or args.head_steps < 0 or args.lr <= 0
    if bad_numbers or not 8 <= args.max_length <= 512 or not 0 <= args.ngram_blend < 1:
        raise UserError(
            "need --epochs >= 1, --batch-size >= 1, --head-steps >= 0, "
            "8 <= --max-length <= 512, --lr > 0, 0 <= --ngram-blend < 1"
        )
    if args.limit is not None and args.limit < 21:
        raise UserError("--limit must be at least 21 (one row per class)")
    store_uri, name = settings.models.store_uri, settings.models.name
    train_options = TrainOptions(
        data_dir=args.data,
        store_uri=args.store or store_uri,
        name=args.name or name,
        publish=args.publish,
        runs_dir=args.runs_dir,
        limit=args.limit,
        progress=args.progress,
        handwritten=args.handwritten,
        blend_weight=args.ngram_blend,
        finetune=FinetuneConfig(
            epochs=args.epochs, max_length=args.max_length, batch_size=args.batch_size,
            learning_rate=args.lr, seed=args.seed, device=args.device, threads=args.threads,
            head_steps=args.head_steps, base=args.base,
        ),
        data=options.data_config(args),
    )
    try:
        report = run_training(train_options)
    except (StoreError, FileNotFoundError) as exc:
        raise UserError(str(exc)) from None
    print_summary(report)
    return 0


EVAL_KEYS = ("hs_test", "shop_eval", "handwritten", "korean")


def print_summary(report: Any, out: Any = None) -> None:
    """The comparison table and where the models went."""
    out = out or sys.stdout
    m = report.metrics
    models = ((f"{m.get('base', 'minilm-l6')} fine-tuned", "transformer"),
              (BASELINE_LABEL, "baseline"))
    width = max(len(label) for label, _ in models) + 2
    print(f"\n{'model':<{width}}{'eval set':<11}{'accuracy':>9}{'macro-F1':>10}{'ms/text':>9}",
          file=out)
    for label, key in models:
        res = m[key]
        for split in EVAL_KEYS:
            if split not in res:
                continue
            print(f"{label:<{width}}{split:<11}{res[split]['accuracy']:>9.4f}"
                  f"{res[split]['macro_f1']:>10.4f}{res['latency_ms_per_text']:>9.2f}", file=out)
    print(f"data hash {m['data']['data_hash'][:16]}…  train {m['transformer']['train_seconds']} s,"
          f" total {report.seconds:.0f} s", file=out)
    measured = m.get("measured")
    if measured:
        t = measured["transformer"]
        print(f"calibration: temperature {t['torch']['temperature']} (fitted on validation); "
              f"int8 {t.get('int8', {}).get('texts_per_s_batch64', '-')} texts/s, torch "
              f"{t['torch']['texts_per_s_batch64']} texts/s at batch 64", file=out)
        route = t["torch"].get("korean_route")
        korean = t["torch"].get("sets", {}).get("korean")
        if route and korean:
            print(f"korean route: Hangul titles labelled by the character n-gram model "
                  f"(temperature {route['temperature']}); as served, korean accuracy "
                  f"{korean['accuracy']:.4f} (the network alone: see the table above)",
                  file=out)
        if route and route.get("blend_weight"):
            alone = t["torch"].get("network_alone", {}).get("handwritten")
            served = t["torch"].get("sets", {}).get("handwritten")
            if alone is not None and served:
                print(f"english blend: the network and the n-gram model (weight "
                      f"{route['blend_weight']}); hand-written accuracy as served "
                      f"{served['accuracy']:.4f}, the network alone {alone:.4f}", file=out)
    print("\ncandidates (docs/TRAINING.md; figures on the hand-written titles):", file=out)
    print(format_table(with_run(load_record(), m)), file=out)
    for name, version, uri in report.published:
        print(f"published {name} {version} -> {uri}", file=out)
    if report.model_dir is not None:
        print(f"not published; model directory: {report.model_dir}", file=out)

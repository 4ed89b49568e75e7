"""The profiling scripts read py-spy's raw output and their own options correctly."""

from __future__ import annotations

import pytest

from tests.fixtures.tools import load_script

LOOP = "<module> (worker/__main__.py:5);run (asyncio/runners.py:190)"
RAW = "\n".join([
    f"thread (11266): MainThread;{LOOP};triage (/w/worker/messages.py:60) 30",
    f'thread (0x7f01): "MainThread";{LOOP};serialize_result (/w/worker/outputs.py:170) 10',
    "thread (123): tokenizer;_run (/w/transport/threads.py:33) 40",
])


def test_the_py_spy_report_splits_threads_and_ranks_the_event_loops_functions(capsys) -> None:
    profile = load_script("profile_worker")
    profile._report(RAW)
    out = capsys.readouterr().out
    assert "50.0%  MainThread" in out and "50.0%  tokenizer" in out  # 40 of 80 samples each
    assert "event-loop thread, inclusive (40 samples)" in out
    assert "75.0%  triage (messages.py)" in out and "25.0%  serialize_result (outputs.py)" in out
    assert "100.0%  run (runners.py)" in out


def test_compare_workers_reads_environment_pairs() -> None:
    compare = load_script("compare_workers")
    assert compare.env_pairs(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(ValueError):
        compare.env_pairs(["no-equals-sign"])

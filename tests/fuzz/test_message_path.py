"""Property tests (hypothesis) and a bounded coverage-guided fuzz (atheris) of the message path.

Whatever is consumed, the worker's message path returns exactly one record that parses as
what it claims to be (a result or a dead letter with a reason), keeps the original bytes or
an honest prefix of them, and fits the record limit. It never raises.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.fuzz_message_path import split
from tests.fuzz.message_path import check, run

pytestmark = pytest.mark.fuzz
HERE = Path(__file__).resolve().parent

json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
products = st.fixed_dictionaries(
    {"product_id": st.text(max_size=200), "title": st.text(max_size=700)},
    optional={
        "brand": st.text() | st.none(), "description": st.text(max_size=300) | st.none(),
        "price": st.floats() | st.integers() | st.text(), "currency": st.text(max_size=5),
        "category_hints": st.lists(st.text(), max_size=20), "event_time": st.text(),
        "schema_version": st.integers(), "extra": json_values,
    },
)
FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=4096), st.none() | st.binary(max_size=64))
def test_any_bytes_give_one_well_formed_record(value, key):
    check(run(value, key), value)


@FAST
@given(products)
def test_any_product_shaped_json_gives_one_well_formed_record(fields):
    value = json.dumps(fields).encode()
    check(run(value, fields.get("product_id", "").encode(errors="ignore")), value)


@FAST
@given(json_values)
def test_any_json_document_gives_one_well_formed_record(document):
    value = json.dumps(document).encode()
    check(run(value), value)


@pytest.mark.parametrize("seed", sorted(p.name for p in (HERE / "corpus").iterdir()))
def test_every_corpus_input_passes(seed):
    value, key, headers = split((HERE / "corpus" / seed).read_bytes())
    check(run(value, key, headers), value)


def test_a_bounded_coverage_guided_fuzz_finds_nothing(tmp_path):
    """atheris (libFuzzer) for a few seconds from the committed corpus; the longer run is
    `python tests/fuzz/fuzz_message_path.py tests/fuzz/corpus -max_total_time=600`."""
    corpus = tmp_path / "corpus"
    shutil.copytree(HERE / "corpus", corpus)
    proc = subprocess.run(
        [sys.executable, str(HERE / "fuzz_message_path.py"), str(corpus),
         "-max_total_time=15", "-rss_limit_mb=4096", f"-artifact_prefix={tmp_path}/"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    crashes = sorted(tmp_path.glob("crash-*"))
    assert proc.returncode == 0 and not crashes, (
        f"crash inputs: {crashes}\n{proc.stderr[-3000:]}"
    )
    assert "Done" in proc.stderr  # it did run

"""The live-version manager (fake loaders, no torch), store polling, and request pinning."""

from __future__ import annotations

import asyncio
import json
import pickle
import threading
import time
from pathlib import Path

import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest
from prometheus_client import REGISTRY

from modelstore import ModelStore
from predictor.live import VersionManager
from predictor.model_cache import ModelCache, Served, VersionNotLoaded
from predictor.pinning import (
    VERSION_HEADER,
    VersionConflict,
    VersionedInferPath,
    requested_version,
)
from predictor.store_source import StoreSource

WAIT_S = 10.0


class FakeStore:
    """A reference that tests move by hand, and a loader that counts its loads."""

    def __init__(self, version: str = "v1") -> None:
        self.version = version
        self.token = 0
        self.resolves = 0
        self.loads: list[str] = []
        self.fail: set[str] = set()
        self.gate: threading.Event | None = None  # when set, loads wait for it
        self.loading = threading.Event()

    def move(self, version: str) -> None:
        self.version = version
        self.token += 1

    def resolve(self) -> str:
        self.resolves += 1
        return self.version

    def change_token(self) -> int:
        return self.token

    def load(self, version: str) -> dict:
        self.loading.set()
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        self.loads.append(version)
        if version in self.fail:
            raise OSError(f"corrupt weights in {version}")
        return {"version": version}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make(fake: FakeStore, cache_size: int = 2, **kwargs) -> VersionManager[dict]:
    name = kwargs.pop("name", "m-" + str(id(fake)))
    manager = VersionManager(
        name,
        fake.resolve,
        fake.load,
        change_token=fake.change_token,
        cache_size=cache_size,
        **kwargs,
    )
    manager.start()
    return manager


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def wait_for(predicate, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.005)


# -- the manager ---------------------------------------------------------------------------


def test_start_loads_the_resolved_version_and_reports_it():
    fake = FakeStore("v1")
    m = make(fake, name="start-test")
    assert m.current == Served("start-test", "v1", {"version": "v1"})
    assert fake.loads == ["v1"] and m.cached_versions() == ["v1"]
    assert metric("catmatch_predictor_model_info", model="start-test", version="v1") == 1.0
    assert metric("catmatch_predictor_model_loads_total", model="start-test", result="ok") == 1


def test_poll_without_a_registry_change_does_not_even_resolve():
    fake = FakeStore()
    m = make(fake)
    before = fake.resolves
    assert [m.poll() for _ in range(5)] == [False] * 5
    assert fake.resolves == before


def test_swap_happens_only_after_the_load_completes():
    fake = FakeStore()
    m = make(fake)
    fake.gate = threading.Event()
    fake.loading.clear()
    fake.move("v2")
    poller = threading.Thread(target=m.poll)
    poller.start()
    assert fake.loading.wait(WAIT_S)
    # Loading v2 is in progress: every request still gets the complete v1.
    for _ in range(100):
        assert m.current.version == "v1" and m.current.model == {"version": "v1"}
    fake.gate.set()
    poller.join(WAIT_S)
    assert m.current.version == "v2" and m.current.model == {"version": "v2"}


def test_in_flight_requests_keep_the_version_they_grabbed():
    fake = FakeStore()
    m = make(fake)
    in_flight = m.current
    fake.move("v2")
    assert m.poll() is True
    assert in_flight.version == "v1" and in_flight.model == {"version": "v1"}
    assert m.current.version == "v2"


def test_concurrent_readers_never_see_a_mixed_snapshot():
    fake = FakeStore()
    m = make(fake, cache_size=3)
    stop = threading.Event()
    bad: list[Served] = []
    seen: set[str] = set()
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            served = m.current
            seen.add(served.version)
            if served.model["version"] != served.version:
                bad.append(served)
            reads[0] += 1

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(60):
        fake.move(f"v{1 + (i + 1) % 3}")
        m.poll()
        before = reads[0]
        wait_for(lambda before=before: reads[0] > before + 1)
    stop.set()
    for t in threads:
        t.join(WAIT_S)
    assert not bad and seen == {"v1", "v2", "v3"}
    assert fake.loads == ["v1", "v2", "v3"]  # the rest were cache hits


def test_a_failing_load_keeps_the_old_version_and_is_retried_later():
    fake, clock = FakeStore(), Clock()
    m = make(fake, clock=clock, retry_after_s=30, name="fail-test")
    fake.fail.add("v2")
    fake.move("v2")
    assert m.poll() is False
    assert m.current.version == "v1" and fake.loads == ["v1", "v2"]
    assert metric("catmatch_predictor_model_loads_total", model="fail-test", result="error") == 1
    # No hammering: nothing changed and the retry is not due yet.
    clock.now = 10
    assert m.poll() is False and fake.loads == ["v1", "v2"]
    # Due: tried again (still broken), old version still serving.
    clock.now = 31
    assert m.poll() is False and fake.loads == ["v1", "v2", "v2"]
    # Fixed and due again: it switches.
    fake.fail.clear()
    clock.now = 62
    assert m.poll() is True and m.current.version == "v2"


def test_a_registry_change_retries_a_failed_version_at_once():
    fake = FakeStore()
    m = make(fake, retry_after_s=3600)
    fake.fail.add("v2")
    fake.move("v2")
    assert m.poll() is False
    fake.fail.clear()
    fake.token += 1  # someone touched the registry (e.g. re-promoted)
    assert m.poll() is True and m.current.version == "v2"


def test_an_unresolvable_reference_keeps_serving():
    fake = FakeStore()
    m = make(fake)

    def broken() -> str:
        raise RuntimeError("registry.json is not valid JSON")

    m._resolve = broken
    fake.token += 1
    assert m.poll() is False and m.current.version == "v1"


def test_rollback_is_a_cache_hit_without_a_reload():
    fake = FakeStore()
    evicted: list[str] = []
    m = make(fake, name="lru-test", on_evict=lambda s: evicted.append(s.version))
    fake.move("v2")
    assert m.poll()
    fake.move("v1")  # rollback
    assert m.poll() and m.current.version == "v1"
    assert fake.loads == ["v1", "v2"]
    assert metric("catmatch_predictor_model_cache_hits_total", model="lru-test") == 1
    assert metric("catmatch_predictor_model_swaps_total", model="lru-test") == 2
    # v3 evicts the least recently used (v2), never the live one.
    fake.move("v3")
    assert m.poll() and m.cached_versions() == ["v1", "v3"] and evicted == ["v2"]
    fake.move("v2")
    assert m.poll() and fake.loads == ["v1", "v2", "v3", "v2"]


def test_cache_size_one_keeps_only_the_live_version():
    fake = FakeStore()
    m = make(fake, cache_size=1)
    fake.move("v2")
    m.poll()
    fake.move("v1")
    m.poll()
    assert fake.loads == ["v1", "v2", "v1"] and m.cached_versions() == ["v1"]


def test_lookup_serves_live_or_cached_and_names_the_live_version_otherwise():
    fake = FakeStore()
    m = make(fake)
    fake.move("v2")
    m.poll()
    assert m.lookup("v2") is m.current
    assert m.lookup("v1").model == {"version": "v1"}
    with pytest.raises(VersionNotLoaded) as err:
        m.lookup("v7")
    assert err.value.live == "v2" and "live version is v2" in str(err.value)


def test_lookup_does_not_change_the_eviction_order():
    cache: ModelCache[int] = ModelCache(2)
    cache.put(Served("m", "v1", 1))
    cache.put(Served("m", "v2", 2))
    assert cache.peek("m", "v1") is not None
    assert [s.version for s in cache.put(Served("m", "v3", 3))] == ["v1"]
    with pytest.raises(ValueError):
        ModelCache(0)


def test_the_watcher_thread_follows_the_reference():
    fake = FakeStore()
    m = make(fake)
    m.watch(0.01)
    try:
        assert m.watching
        fake.move("v2")
        wait_for(lambda: m.current.version == "v2")
        fake.move("v1")
        wait_for(lambda: m.current.version == "v1")
    finally:
        m.close()
    assert not m.watching and fake.loads == ["v1", "v2"]


class PicklableSource:
    def resolve(self) -> str:
        return "v1"

    def load(self, version: str) -> str:
        return f"model-{version}"


def test_pickles_with_only_the_live_version_and_no_thread():
    src = PicklableSource()
    m = VersionManager("pickle-test", src.resolve, src.load)
    m.start()
    m._cache.put(Served("pickle-test", "v0", "old"))
    m.watch(60)
    try:
        clone = pickle.loads(pickle.dumps(m))
    finally:
        m.close()
    assert clone.current.model == "model-v1" and clone.cached_versions() == ["v1"]
    assert not clone.watching
    clone.watch(60)
    clone.close()


# -- a real store on disk ------------------------------------------------------------------


def fake_model_dir(path: Path, label: str) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"id2label": {"0": label}}))
    (path / "model.safetensors").write_bytes(label.encode() * 100)
    (path / "tokenizer.json").write_text("{}")
    return path


def test_store_source_polls_promotions_and_rollbacks(tmp_path: Path):
    store = ModelStore.from_uri(tmp_path / "store")
    for label in ("a", "b"):
        store.publish("cm", fake_model_dir(tmp_path / label, label), runtime="transformers")
    store.promote("cm", "v1", "dev")
    source = StoreSource(store, "cm", "dev")
    loads: list[Path] = []

    def load(version: str) -> str:
        path = source.local_path(version)
        loads.append(path)
        return json.loads((path / "config.json").read_text())["id2label"]["0"]

    m = VersionManager("cm", source.resolve, load, change_token=source.change_token)
    assert m.start().model == "a" and source.follows
    assert m.poll() is False
    store.promote("cm", "v2", "dev")
    assert m.poll() is True and (m.current.version, m.current.model) == ("v2", "b")
    store.rollback("cm", "dev")
    assert m.poll() is True and (m.current.version, m.current.model) == ("v1", "a")
    assert [p.name for p in loads] == ["v1", "v2"]
    store.promote("cm", "v2", "ops")  # another environment: token changes, version does not
    assert m.poll() is False and m.current.version == "v1"


def test_pinned_and_alias_references(tmp_path: Path):
    store = ModelStore.from_uri(tmp_path / "store")
    store.publish("cm", fake_model_dir(tmp_path / "a", "a"), runtime="transformers")
    assert not StoreSource(store, "cm", "v1").follows
    assert StoreSource(store, "cm", "production").follows
    assert StoreSource(store, "cm", "latest").resolve() == "v1"


# -- request pinning -----------------------------------------------------------------------


def v2_request(**parameters) -> InferRequest:
    return InferRequest(
        "m", [InferInput("text", [1], "BYTES", ["x"])], parameters=parameters or None
    )


def test_requested_version_from_parameter_header_or_neither():
    assert requested_version(v2_request(), None) is None
    assert requested_version(v2_request(top_k=2), {}) is None
    assert requested_version(v2_request(model_version="v3"), None) == "v3"
    assert requested_version(v2_request(model_version=3), None) == "v3"
    assert requested_version({"instances": ["x"], "parameters": {"model_version": "2"}}, {}) == "v2"
    assert requested_version(v2_request(), {VERSION_HEADER: "tiny-abc"}) == "tiny-abc"
    assert requested_version(v2_request(model_version="v4"), {VERSION_HEADER: "4"}) == "v4"


@pytest.mark.parametrize(
    ("payload", "headers"),
    [
        (v2_request(model_version="v1"), {VERSION_HEADER: "v2"}),
        (v2_request(model_version=["v1"]), None),
        (v2_request(model_version=" "), None),
    ],
)
def test_requested_version_rejects_nonsense(payload, headers):
    with pytest.raises(InvalidInput):
        requested_version(payload, headers)


def test_version_conflict_is_a_client_error_naming_the_live_version():
    exc = VersionConflict("cm", "v1", "v2")
    assert isinstance(exc, InvalidInput)
    assert (exc.requested, exc.live) == ("v1", "v2") and "live version is v2" in str(exc)


def test_versioned_infer_url_is_rewritten_with_the_version_header():
    seen: list[dict] = []

    async def app(scope, receive, send) -> None:
        seen.append(scope)

    middleware = VersionedInferPath(app)
    scope = {
        "type": "http",
        "path": "/v2/models/cm/versions/v3/infer",
        "headers": [(VERSION_HEADER.encode(), b"v9"), (b"content-type", b"application/json")],
    }
    asyncio.run(middleware(scope, None, None))
    plain_scope = {"type": "http", "path": "/v2/models/cm/infer", "headers": []}
    asyncio.run(middleware(plain_scope, None, None))
    rewritten, plain = seen
    assert rewritten["path"] == "/v2/models/cm/infer"
    assert rewritten["raw_path"] == b"/v2/models/cm/infer"
    assert dict(rewritten["headers"])[VERSION_HEADER.encode()] == b"v3"
    assert len(rewritten["headers"]) == 2
    assert plain["path"] == "/v2/models/cm/infer" and plain["headers"] == []


# -- command line --------------------------------------------------------------------------


def test_store_flags_parse_with_settings_defaults():
    from core.settings import load_settings
    from predictor.server import build_parser

    settings = load_settings()
    ns = build_parser(settings).parse_args([])
    assert ns.model_ref is None and ns.poll_interval == 5.0 and ns.cache_size == 2
    assert ns.store == settings.models.store_uri and ns.store_name == settings.models.name
    ns = build_parser(settings).parse_args(
        ["--model-ref", "production", "--store", "/s", "--poll-interval", "0.5"]
        + ["--cache-size", "3"]
    )
    assert (ns.model_ref, ns.store, ns.poll_interval, ns.cache_size) == ("production", "/s", 0.5, 3)


def test_an_unknown_reference_fails_at_start_up(tmp_path: Path):
    from core.errors import CatmatchError
    from predictor.server import main

    store = ModelStore.from_uri(tmp_path / "store")
    store.publish("cm", fake_model_dir(tmp_path / "a", "a"), runtime="transformers")
    args = ["--store", store.uri, "--store-name", "cm", "--device", "cpu"]
    with pytest.raises(CatmatchError, match="deployed to dev"):
        main([*args, "--model-ref", "dev"])
    with pytest.raises(CatmatchError, match="--cache-size"):
        main([*args, "--model-ref", "v1", "--cache-size", "0"])


# -- CategoryModel in process --------------------------------------------------------------


def test_a_request_finishes_on_the_version_it_started_with(tiny_model_dir: Path, tmp_path: Path):
    from predictor.model import CategoryModel

    store = ModelStore.from_uri(tmp_path / "store")
    for _ in range(2):
        store.publish("cm", tiny_model_dir, runtime="transformers")
    store.promote("cm", "v1", "dev")
    model = CategoryModel("cm", source=StoreSource(store, "cm", "dev"), device="cpu")
    assert model.load() and model.model_version == "v1"

    async def scenario() -> tuple[object, object]:
        job = await model.preprocess({"instances": ["kettle"]})
        assert model.versions.manager.switch_to("v2")  # swap mid-request
        done = await model.predict(job)
        old = await model.postprocess(done)
        new, _ = await model({"instances": ["kettle"]})
        return old, new

    try:
        old, new = asyncio.run(scenario())
        assert old["model_version"] == "v1" and new["model_version"] == "v2"
        pinned, _ = asyncio.run(model({"instances": ["x"], "parameters": {"model_version": 1}}))
        assert pinned["model_version"] == "v1"
        with pytest.raises(VersionConflict, match="live version is v2"):
            asyncio.run(model({"instances": ["x"], "parameters": {"model_version": "v5"}}))
    finally:
        model.stop()

"""The predictor circuit: one prober, waiting batches released together, stop respected."""

from __future__ import annotations

import asyncio

import pytest

from worker.circuit import CircuitStopped, FaultKind, PredictorCircuit
from worker.metrics import METRICS


def _gauge() -> float:
    return float(METRICS.predictor_circuit_open._value.get())


def test_batches_wait_while_the_canary_fails_and_go_on_together_once_it_passes():
    async def scenario() -> tuple[int, list[str]]:
        answers = iter([False, False, True])
        calls = 0

        async def probe() -> None:
            nonlocal calls
            calls += 1
            if not next(answers):
                raise RuntimeError("HTTP 503")

        circuit = PredictorCircuit(probe, asyncio.Event(), initial_s=0.01, max_s=0.02)
        done: list[str] = []

        async def batch(name: str) -> None:
            await circuit.trip(FaultKind.UNAUTHORIZED, "HTTP 401")
            done.append(name)

        await asyncio.wait_for(asyncio.gather(batch("a"), batch("b")), timeout=5)
        assert not circuit.is_open and circuit.kind is None
        return calls, done

    calls, done = asyncio.run(scenario())
    assert calls == 3  # one prober, not one per waiting batch
    assert sorted(done) == ["a", "b"]


def test_stopping_releases_waiting_batches_with_an_error():
    async def scenario() -> None:
        async def probe() -> None:
            raise RuntimeError("still down")

        stop = asyncio.Event()
        circuit = PredictorCircuit(probe, stop, initial_s=0.01, max_s=0.02)
        waiting = asyncio.create_task(circuit.trip(FaultKind.SERVER_ERROR, "HTTP 500"))
        await asyncio.sleep(0.05)
        assert circuit.is_open and circuit.kind is FaultKind.SERVER_ERROR
        stop.set()
        with pytest.raises(CircuitStopped):
            await asyncio.wait_for(waiting, timeout=5)
        await circuit.close()

    asyncio.run(scenario())


def test_a_new_circuit_reports_closed_even_after_one_was_stopped_open():
    """The gauge is process-wide: a worker that stopped while its circuit was open must not
    make the next worker in the process look open (CatmatchPredictorCircuitOpen)."""
    test_stopping_releases_waiting_batches_with_an_error()  # leaves a circuit stopped open
    assert _gauge() == 1

    async def fresh() -> None:
        async def probe() -> None:
            return None

        PredictorCircuit(probe, asyncio.Event())

    asyncio.run(fresh())
    assert _gauge() == 0

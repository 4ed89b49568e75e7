"""The pure parts of the pod drills and of what they run on: the recovery measured from
label arrival times (tests/cluster/drills.py) and the dev Kafka's volume (localkube.release)."""

from __future__ import annotations

from pathlib import Path

from tests.cluster import drills
from tests.fixtures.tools import load_script

load_script("cluster")  # puts scripts/ on sys.path

from localkube import release  # noqa: E402


def test_each_partition_s_longest_pause_after_the_fault() -> None:
    # Partition 0 labels every second and pauses from 10 to 25 (the fault at 12);
    # partition 1 pauses only before the fault (3 to 8) and briefly after (14 to 16).
    arrivals = [(float(t), 0) for t in [*range(0, 11), *range(25, 30)]]
    arrivals += [(float(t), 1) for t in [0, 1, 2, 3, 8, 9, 10, 11, 12, 14, 16, 17]]
    found = {s.partition: s for s in drills.stalls(arrivals, fault_at=12.0)}
    assert (found[0].started_at, found[0].ended_at, found[0].seconds) == (12.0, 25.0, 13.0)
    assert (found[1].started_at, found[1].ended_at) == (12.0, 14.0)
    assert drills.recovery(arrivals, 12.0) == {"recovered_s": 13.0,
                                                "stall_s": {"0": 13.0, "1": 2.0}}  # fmt: skip


def test_a_pause_that_began_before_the_fault_counts_from_the_fault() -> None:
    arrivals = [(1.0, 0), (2.0, 0), (9.0, 0)]
    (stall,) = drills.stalls(arrivals, fault_at=5.0)
    assert (stall.started_at, stall.ended_at) == (5.0, 9.0)


def test_no_label_after_the_fault_is_no_recovery() -> None:
    assert drills.recovery([(1.0, 0)], fault_at=5.0) == {"recovered_s": None, "stall_s": {}}


def test_the_dev_kafka_volume_is_bound_to_its_claim_in_advance(tmp_path: Path) -> None:
    pv = release.kafka_volume_object(tmp_path / "data")
    spec = pv["spec"]
    assert isinstance(spec, dict)
    assert spec["claimRef"] == {"namespace": release.NAMESPACE, "name": "data-kafka-0"}
    assert spec["hostPath"] == {"path": str(tmp_path / "data"), "type": "Directory"}
    assert spec["storageClassName"] == "" and spec["persistentVolumeReclaimPolicy"] == "Retain"
    assert "persistence.enabled=true" in release.KAFKA_SETS

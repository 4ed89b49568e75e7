"""Tools that drive and inspect a running pipeline from the outside, below the CLI.

Producing into the input topic, reading topics back, dead-letter statistics and replay, the
operator's status report, the process harness that starts a pipeline on loopback, and the
demo, benchmark and fault drills built on it. ``catmatch`` and the tests import this package;
nothing else does (``tests/unit/test_layering.py``).
"""

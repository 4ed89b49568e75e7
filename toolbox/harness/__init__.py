"""The one process harness: a pipeline on loopback for the demo, the benchmark, the drills
and the test fixtures (broker, Redis, predictor and worker processes, a fault proxy).

Every start is awaited with a bound, every child logs to a file, and teardown stops them in
reverse order (:class:`~toolbox.harness.stack.Stack`).
"""

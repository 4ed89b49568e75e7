"""Benchmarks (``catmatch bench``): the model, the predictor, the pipeline, the worker's own
ceiling against a no-op predictor, and a naive worker, measured side by side."""

"""The category-match predictor: a ``kserve.Model`` serving a model-store version.

Modules (torch, transformers, onnxruntime, kserve and sklearn are imported only where needed):

- ``runtimes``: the :class:`~predictor.runtimes.ModelRuntime` contract and the loader that
  picks a runtime per model directory: ``loading`` + ``inference`` (transformers, torch),
  ``onnx_runtime`` (an exported transformer on ONNX Runtime) or ``sklearn_runtime`` (joblib
  estimators); ``encoding`` holds the tokenize/trim/softmax/top-k steps the first two share,
  ``cpu`` the thread count both take from the CPU quota.
- ``batches``: numpy containers passed between the steps.
- ``protocol``: V1 / V2 (Open Inference Protocol) decoding and encoding.
- ``model``: :class:`~predictor.model.CategoryModel`, the ``kserve.Model``.
- ``live`` / ``store_source`` / ``pinning``: following a store ref with hot swaps, and
  per-request version pinning.
- ``server`` / ``loopback``: ``python -m predictor`` / ``catmatch serve`` on ``ModelServer``.

The model-directory format (``catmatch.json``, required files) and the tokenizer
configuration live in :mod:`core`, shared with the worker; offline model builders live in
:mod:`training.builders`.
"""

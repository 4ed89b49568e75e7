"""The category-match predictor: a ``kserve.Model`` serving a model-store version.

Modules in import order: each imports only modules listed below it, so there is no cycle
(torch, transformers, onnxruntime, kserve and sklearn are imported only where needed).

- ``server``: ``python -m predictor`` / ``catmatch serve``: arguments, settings, start.
- ``loopback``: the ``kserve.ModelServer`` subclass: the bind address, and which app gets
  the routes (this process's, or each ``--workers`` child's).
- ``routes``: :func:`~predictor.routes.install_routes`, the one installer of the routes below.
- ``auth``: the bearer-token check.
- ``predict_api``: ``POST /predict`` with the result cache.
- ``model``: :class:`~predictor.model.CategoryModel`, the ``kserve.Model``: decode, run on
  one model thread, encode. It never touches the web app.
- ``versions``: which versions are served: a fixed directory, or a store reference followed.
- ``live``: :class:`~predictor.live.VersionManager`: the watcher, background loads, swaps.
- ``model_cache``: the served snapshot and the LRU of loaded versions.
- ``store_source``: a model-store reference as the predictor reads it.
- ``pinning``: the version a request pins, the versioned URL, the 409.
- ``runtimes``: the :class:`~predictor.runtimes.ModelRuntime` contract and the loader that
  picks a runtime per model directory.
- ``onnx_runtime``: an exported transformer on ONNX Runtime.
- ``loading`` + ``inference``: the transformers runtime on torch.
- ``sklearn_runtime``: joblib estimators.
- ``token_classifier``: tokenize, trim and sub-batch, shared by the two neural runtimes.
- ``scoring``: softmax and top-k, shared by all three.
- ``cpu``: the inference thread count from the CPU quota.
- ``protocol``: V1 / V2 (Open Inference Protocol) request decoding and response encoding.
- ``batches``: numpy containers passed between the steps.
- ``errors``: ``PredictorError``.

The model-directory format (``catmatch.json``, required files) and the tokenizer
configuration live in :mod:`core`, shared with the worker; offline model builders live in
:mod:`training.builders`.
"""

"""The category-match predictor: a ``kserve.Model`` serving a Hugging Face sequence classifier.

Modules (torch, transformers and kserve are imported only where needed):

- ``metadata``: the ``catmatch.json`` model card (name, version, labels).
- ``tokenization``: the model directory's ``tokenizer.json`` with our padding/truncation.
- ``loading``: a model directory → a ready :class:`~predictor.inference.Classifier`.
- ``inference``: the torch forward pass (softmax, arg-max, top-k).
- ``batches``: numpy containers passed between the steps.
- ``protocol``: V1 / V2 (Open Inference Protocol) decoding and encoding.
- ``model``: :class:`~predictor.model.CategoryModel`, the ``kserve.Model``.
- ``server`` / ``loopback``: ``python -m predictor`` / ``catmatch serve`` on ``ModelServer``.
- ``builders``: the tiny test model and the seed (demo) model, built offline.
"""

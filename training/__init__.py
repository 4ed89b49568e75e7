"""Training: data preparation, MiniLM fine-tuning, the TF-IDF baseline, evaluation, publishing.

Entry points: ``catmatch data prepare`` and ``catmatch train`` (``catmatch/commands/``);
in Python :func:`training.data.prepare_data` and :func:`training.run.run_training`.
"""

"""The bottom layer of category-match: what every other package shares.

Settings (:mod:`core.settings`), the error base (:mod:`core.errors`), the categories
(:mod:`core.categories`), the vocabulary of runtimes and refs (:mod:`core.names`), the
model-directory format (:mod:`core.modelformat`) and the tokenizer configuration shared by
worker and predictor (:mod:`core.tokenization`). It imports no other first-party package.
"""

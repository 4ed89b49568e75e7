"""The synchronous part of one message's path: bytes → product or dead letter → record.

:class:`MessagePath` is what the pipeline runs around the predictor call, and what the fuzz
tests drive directly (``tests/fuzz``): whatever the bytes, the key or the headers, it returns
records and never raises. An exception while validating, tokenizing or encoding one message
becomes that message's dead letter (``unprocessable``, naming the step and the exception).
"""

from __future__ import annotations

import asyncio
import traceback
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from confluent_kafka import Message

from schemas import ErrorClass, ProductMessage
from worker.outputs import Labelled, Outgoing, OutputBuilder
from worker.tokenization import BatchTokenizer, TokenizedBatch
from worker.validation import Invalid, decode, validate_many, validate_with_text

# Never swallowed as a per-message failure.
FATAL = (KeyboardInterrupt, SystemExit, asyncio.CancelledError, GeneratorExit, MemoryError)


class PoisonTexts(Exception):
    """Some texts of a batch cannot be tokenized; ``reasons`` maps their index to why."""

    def __init__(self, reasons: dict[int, str]) -> None:
        super().__init__(f"{len(reasons)} texts cannot be tokenized")
        self.reasons = reasons


def describe(exc: BaseException) -> str:
    """The last line of the exception's traceback: ``Type: message``."""
    return traceback.format_exception_only(type(exc), exc)[-1].strip()[:500]


class MessagePath:
    """Validation before the predictor, records after it, with a guard on every step."""

    def __init__(self, outputs: OutputBuilder, max_bytes: int, max_depth: int) -> None:
        self.outputs = outputs
        self.max_bytes = max_bytes
        self.max_depth = max_depth

    def triage(
        self, messages: Sequence[Message]
    ) -> tuple[list[Outgoing], list[tuple[Message, ProductMessage, str]]]:
        """Dead letters for the invalid messages, and the valid products with their text."""
        outgoing: list[Outgoing] = []
        decoded: list[tuple[Message, dict[str, Any]]] = []
        for msg in messages:
            try:
                data = decode(msg.value(), self.max_bytes, self.max_depth)
            except FATAL:
                raise
            except BaseException as exc:  # a bug this input triggers: its dead letter says so
                data = Invalid(ErrorClass.UNPROCESSABLE, f"decoding: {describe(exc)}")
            if isinstance(data, Invalid):
                outgoing.append(self.outputs.dead_letter(msg, data.error_class, data.reason))
            else:
                decoded.append((msg, data))
        try:
            checked = validate_many([d for _, d in decoded])
        except FATAL:
            raise
        except BaseException:  # validate one by one, to pin an unexpected error on its message
            checked = [self._validate_one(d) for _, d in decoded]
        valid: list[tuple[Message, ProductMessage, str]] = []
        for (msg, _), result in zip(decoded, checked, strict=True):
            if isinstance(result, Invalid):
                outgoing.append(self.outputs.dead_letter(msg, result.error_class, result.reason))
            else:
                valid.append((msg, *result))
        return outgoing, valid

    @staticmethod
    def _validate_one(data: dict[str, Any]) -> tuple[ProductMessage, str] | Invalid:
        try:
            return validate_with_text(data)
        except FATAL:
            raise
        except BaseException as exc:
            return Invalid(ErrorClass.UNPROCESSABLE, f"validating: {describe(exc)}")

    def output(
        self, msg: Message, product: ProductMessage, outcome: Labelled | Invalid,
        now: datetime | None = None,
    ) -> Outgoing:
        """The record for one classified (or refused) product (``now``: its processed time)."""
        if isinstance(outcome, Invalid):
            return self.outputs.dead_letter(msg, outcome.error_class, outcome.reason)
        try:
            return self.outputs.result(msg, product, outcome, now)
        except FATAL:
            raise
        except BaseException as exc:
            reason = f"encoding the result: {describe(exc)}"
            return self.outputs.dead_letter(msg, ErrorClass.UNPROCESSABLE, reason)


def tokenize(tokenizer: BatchTokenizer, texts: Sequence[str]) -> TokenizedBatch:
    """Tokenize a batch; texts that make the tokenizer fail are named in :class:`PoisonTexts`.

    Raises:
        PoisonTexts: some texts fail alone (the others are fine).
    """
    try:
        return tokenizer.tokenize(list(texts))
    except FATAL:
        raise
    except BaseException as exc:  # tokenizers raises pyo3's PanicException (a BaseException)
        reasons: dict[int, str] = {}
        for i, text in enumerate(texts):
            try:
                tokenizer.tokenize([text])
            except FATAL:
                raise
            except BaseException as one:
                reasons[i] = describe(one)
        if not reasons:
            raise RuntimeError(f"tokenizing a batch failed: {describe(exc)}") from exc
        raise PoisonTexts(reasons) from exc

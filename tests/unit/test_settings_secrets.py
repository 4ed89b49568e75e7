"""Every secret in the settings tree is a ``SecretStr``, and no way of printing the tree shows
one (the end-to-end scan of a running pipeline: tests/e2e/test_secrets_never_leak.py)."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator

from pydantic import BaseModel, SecretStr

from core.settings import Settings

# Field names that hold a secret: passwords, tokens, URLs that may carry a password.
SECRET_NAME = re.compile(r"(password|secret|(^|_)token$|redis_url)")


def fields(model: type[BaseModel], prefix: str = "") -> Iterator[tuple[str, object]]:
    for name, info in model.model_fields.items():
        annotation = info.annotation
        nested = [a for a in typing.get_args(annotation) or (annotation,)
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        if nested:
            yield from fields(nested[0], f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", annotation


def test_every_secret_field_is_a_secret_str():
    secret_fields = {name: ann for name, ann in fields(Settings)
                     if SECRET_NAME.search(name.rsplit(".", 1)[-1])}
    assert {"kafka.sasl_password", "predictor.token", "serve.token", "cache.redis_url"} <= set(
        secret_fields)
    plain = {name for name, ann in secret_fields.items()
             if SecretStr not in (typing.get_args(ann) or (ann,))}
    assert not plain, f"make these SecretStr: {sorted(plain)}"


def test_printing_or_dumping_the_settings_shows_no_secret():
    values = {"pw": "sasl-pw-5d1e", "tok": "tok-77ab", "ptok": "ptok-91cc", "redis": "rpw-19f0"}
    settings = Settings(
        kafka={"sasl_password": values["pw"], "sasl_username": "u"},
        serve={"token": values["tok"]},
        predictor={"token": values["ptok"]},
        cache={"redis_url": f"redis://catmatch:{values['redis']}@redis:6379/0"},
    )
    shown = [str(settings), repr(settings), settings.model_dump_json(),
             str(settings.model_dump()), str(settings.kafka), repr(settings.cache)]
    for text in shown:
        for value in values.values():
            assert value not in text

"""Token files: one per line or a directory of keys, re-read after a change (a Kubernetes
Secret volume's ``..data`` symlink swap included), old tokens kept while a reload fails."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import pytest

from core.settings import PredictorClientSettings
from core.token_files import TokenFile, TokenFileError, read_credentials
from toolbox.harness.secret_volume import SecretVolume


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def secrets(tf: TokenFile) -> list[str]:
    return [c.secret for c in tf.credentials()]


def test_a_file_holds_one_token_per_line_comments_and_blanks_skipped(tmp_path: Path):
    path = tmp_path / "tokens"
    path.write_text("# rotated 2026-12-07\ncurrent-token\n\n  next-token  \n")
    creds = read_credentials(path)
    assert [(c.name, c.secret) for c in creds] == [
        ("tokens:2", "current-token"), ("tokens:4", "next-token")
    ]
    assert "current-token" not in repr(creds) and str(creds[0]) == "tokens:2"


def test_a_directory_holds_one_file_per_key(tmp_path: Path):
    volume = SecretVolume(tmp_path / "secret")
    volume.write(current="aaa", next="bbb")
    assert [(c.name, c.secret) for c in read_credentials(volume.root)] == [
        ("current", "aaa"), ("next", "bbb")
    ]


@pytest.mark.parametrize("content", ["", "# only a comment\n", "two words\n", "caf\u00e9\n"])
def test_no_token_or_an_invalid_one_is_refused_without_echoing_it(tmp_path: Path, content: str):
    path = tmp_path / "tokens"
    path.write_text(content)
    with pytest.raises(TokenFileError) as err:
        read_credentials(path)
    assert "words" not in str(err.value) and "caf" not in str(err.value)


def test_a_missing_file_is_an_error_at_the_first_read(tmp_path: Path):
    with pytest.raises(TokenFileError):
        TokenFile(tmp_path / "absent").load()


def test_the_symlink_swap_is_seen_after_the_interval_and_only_then(tmp_path: Path):
    volume = SecretVolume(tmp_path / "secret")
    volume.write(current="aaa")
    clock = Clock()
    tf = TokenFile(volume.root, check_interval_s=1.0, clock=clock)
    assert secrets(tf) == ["aaa"]
    volume.write(current="aaa", next="bbb")
    clock.now = 0.5
    assert secrets(tf) == ["aaa"]  # not checked yet
    clock.now = 1.0
    assert secrets(tf) == ["aaa", "bbb"] and tf.reloads == 1
    volume.write(next="bbb")
    clock.now = 2.0
    assert secrets(tf) == ["bbb"] and tf.reloads == 2


def test_a_worker_file_key_swapped_in_place(tmp_path: Path):
    volume = SecretVolume(tmp_path / "secret")
    volume.write(token="old")
    clock = Clock()
    tf = TokenFile(volume.root / "token", check_interval_s=1.0, clock=clock)
    assert tf.token() == "old"
    volume.write(token="new")
    clock.now = 1.0
    assert tf.token() == "new"


def test_a_failing_reload_keeps_the_tokens_and_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    path = tmp_path / "tokens"
    path.write_text("aaa\n")
    clock = Clock()
    tf = TokenFile(path, check_interval_s=1.0, clock=clock)
    assert secrets(tf) == ["aaa"]
    caplog.set_level(logging.WARNING)
    for bad in ("", "x y\n"):  # emptied, then invalid
        path.write_text(bad)
        clock.now += 1
        assert secrets(tf) == ["aaa"]
        clock.now += 1
        assert secrets(tf) == ["aaa"]
    path.unlink()
    clock.now += 1
    assert secrets(tf) == ["aaa"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, [r.getMessage() for r in warnings]
    assert not any("x y" in r.getMessage() for r in caplog.records)
    path.write_text("bbb\n")
    clock.now += 1
    assert secrets(tf) == ["bbb"]


def test_a_token_file_crosses_a_pickle(tmp_path: Path):
    path = tmp_path / "tokens"
    path.write_text("aaa\n")
    tf = TokenFile(path, check_interval_s=0.0, clock=Clock())
    tf.load()
    copy = pickle.loads(pickle.dumps(tf))
    path.write_text("bbb\n")
    assert secrets(copy) == ["bbb"]


def test_client_settings_take_a_token_or_a_file_not_both(tmp_path: Path):
    path = tmp_path / "token"
    path.write_text("from-file\n")
    assert PredictorClientSettings(token_file=path).bearer_token() == "from-file"
    assert PredictorClientSettings(token="t").bearer_token() == "t"  # type: ignore[arg-type]
    assert PredictorClientSettings().bearer_token() is None
    with pytest.raises(ValueError, match="not both"):
        PredictorClientSettings(token="t", token_file=path)  # type: ignore[arg-type]

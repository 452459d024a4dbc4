"""open_store picks the backend from a URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from policy.state.store import RedisStore, SqliteStore, open_store


@pytest.mark.parametrize("form", ["sqlite://{path}", "{path}"])
def test_sqlite_urls_and_plain_paths(tmp_path: Path, form: str) -> None:
    path = tmp_path / "state.db"
    store = open_store(form.format(path=path))
    try:
        assert isinstance(store, SqliteStore)
        assert path.exists()
    finally:
        store.close()


def test_redis_url() -> None:
    store = open_store("redis://127.0.0.1:1/0")  # connects lazily: nothing listens there
    try:
        assert isinstance(store, RedisStore)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://relative/state.db", "expected sqlite:///absolute/path.db"),
        ("sqlite://", "expected sqlite:///absolute/path.db"),
        ("postgres://db/state", "unknown scheme 'postgres'"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        open_store(url)

"""SIGHUP reloads as the admin listener reports them (sip_edge/lifecycle.py Reloader,
sip_edge/admin.py; issue 12): counts by outcome in ``/metrics``, the refused file's
``file:line`` on ``/health`` until a reload succeeds."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import sys
import threading
from typing import cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from policy import FeedFollower, PolicyRuntime
from sip_edge.admin import Admin, Reloads, exposition
from sip_edge.lifecycle import RELOAD_NICE, Reloader, lower_priority

from ._load import BROKEN, BROKEN_LINE
from .conftest import ROOT


class _Follower:
    status = ("OK", "following")


def _reloader(rules: pathlib.Path) -> tuple[Reloader, PolicyRuntime]:
    runtime = PolicyRuntime(str(rules), 0.0)
    loop = asyncio.new_event_loop()
    loop.close()  # reload() itself never touches the loop (request() schedules it there)
    return Reloader(loop, runtime, lambda: 0, lambda: 1.0, 0), runtime


def _get(admin: Admin, path: str) -> tuple[int, str]:
    async def main() -> tuple[int, str]:
        port = await admin.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
        finally:
            admin.close()
            assert admin.server is not None
            await admin.server.wait_closed()
        head, _, body = data.decode().partition("\r\n\r\n")
        return int(head.split()[1]), body

    return asyncio.run(main())


def test_the_exposition_counts_reloads_by_outcome() -> None:
    text = exposition({}, {}, "abc", "OK", 1, Reloads(ok=3, failed=1, error="x", seconds=0.25))
    s = {
        (x.name, tuple(sorted(x.labels.items()))): x.value
        for f in text_string_to_metric_families(text)
        for x in f.samples
    }
    assert s[("callpolicy_rules_reloads_total", (("result", "ok"), ("worker", "1")))] == 3
    assert s[("callpolicy_rules_reloads_total", (("result", "failed"), ("worker", "1")))] == 1
    assert s[("callpolicy_rules_last_reload_failed", (("worker", "1"),))] == 1
    assert s[("callpolicy_rules_last_reload_seconds", (("worker", "1"),))] == 0.25


def test_a_refused_reload_is_on_health_with_file_and_line_until_one_succeeds(
    tmp_path: pathlib.Path,
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules, ignore=shutil.ignore_patterns("tests"))
    reloader, runtime = _reloader(rules)
    follower = cast(FeedFollower, _Follower())
    admin = Admin(lambda: {}, dict, runtime, follower, 0, lambda: reloader.outcome)
    kept = runtime.info.revision
    assert json.loads(_get(admin, "/health")[1])["status"] == "ok"

    blocks = rules / "blocks.toml"
    good = blocks.read_text()
    blocks.write_text(good + BROKEN)
    reloader.reload()

    line = (good + BROKEN).splitlines().index(BROKEN_LINE) + 1
    assert reloader.outcome[:2] == (0, 1)
    status, body = _get(admin, "/health")
    doc = json.loads(body)
    assert status == 200 and doc["status"] == "degraded"
    assert doc["rules_revision"] == kept == runtime.info.revision
    assert f"{blocks}:{line}: rule_schema_error: $.block[" in doc["reload_error"]
    assert "got '09OO'" in doc["reload_error"]
    status, ready = _get(admin, "/ready")
    assert status == 200 and json.loads(ready)["status"] == "ready"  # the old rules serve

    blocks.write_text(good + "\n# an edit\n")
    reloader.reload()

    assert reloader.outcome[:3] == (1, 1, "")
    assert runtime.info.revision != kept
    doc = json.loads(_get(admin, "/health")[1])
    assert doc["status"] == "ok" and "reload_error" not in doc
    metrics = _get(admin, "/metrics")[1]
    assert 'callpolicy_rules_reloads_total{worker="0",result="ok"} 1' in metrics
    assert 'callpolicy_rules_reloads_total{worker="0",result="failed"} 1' in metrics


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="niceness per thread: Linux")
def test_reloads_run_on_a_thread_nicer_than_the_loop() -> None:
    """The rules-engine child a reload starts inherits the thread's niceness."""
    seen: list[int] = []

    def run() -> None:
        lower_priority()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen == [min(19, before + RELOAD_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # the loop's

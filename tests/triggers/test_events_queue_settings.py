"""The private-mode queue trigger's retry and encoding settings live in host.json; the docs and
the trigger's own docstring state them. Read all three, so that they cannot drift apart."""

from __future__ import annotations

import json
import re
from pathlib import Path

import triggers.events

REPO = Path(__file__).resolve().parents[2]


def queues() -> dict:
    return json.loads((REPO / "host.json").read_text())["extensions"]["queues"]


def test_docs_and_trigger_state_the_max_dequeue_count_host_json_sets() -> None:
    count = queues()["maxDequeueCount"]
    docs = (REPO / "docs" / "events.md").read_text()
    stated = {int(n) for n in re.findall(r"(\d+) dequeues", docs)}
    assert stated == {count}, f"docs/events.md says {stated}, host.json {count}"
    trigger = {int(n) for n in re.findall(r"(\d+) dequeues", triggers.events.__doc__ or "")}
    assert trigger == {count}, f"triggers/events.py says {trigger}, host.json {count}"


def test_queue_messages_reach_the_function_as_written_plain_or_base64() -> None:
    # the queue extension base64-decodes by default and cannot read a plain JSON message;
    # "none" hands over the text as Event Grid wrote it, and kvdr.events.handler reads both forms
    assert queues()["messageEncoding"] == "none"
    assert '"messageEncoding": "none"' in (REPO / "docs" / "events.md").read_text()

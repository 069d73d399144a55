"""The run states the dashboard's scripts list come from ``tss.core.states`` through the
page's ``tss-config`` element, as the alert states come from ``tss.core.alerts``, and the
stylesheet colours every run, worker and alert state."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from tss.config import Settings
from tss.core.alerts import ALERT_STATES
from tss.core.states import FAILURE_STATES, TERMINAL_STATES, RunState
from tss.core.workers import WORKER_STATES
from tss.dashboard.pages import shell

CSS = Path(__file__).resolve().parents[2] / "src/tss/dashboard/static/dashboard.css"


def served_config() -> dict[str, Any]:
    found = re.search(r'<meta name="tss-config" content="([^"]*)">', shell(Settings()))
    assert found
    config: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return config


def served_states() -> dict[str, list[str]]:
    states: dict[str, list[str]] = served_config()["states"]
    return states


def test_the_page_lists_every_run_state_once() -> None:
    states = served_states()
    assert sorted(states["all"]) == sorted(state.value for state in RunState)
    assert set(states["terminal"]) == {state.value for state in TERMINAL_STATES}
    assert set(states["failure"]) == {state.value for state in FAILURE_STATES}
    assert len(states["terminal"]) == len(TERMINAL_STATES)
    assert len(states["failure"]) == len(FAILURE_STATES)


def test_the_lists_keep_the_order_the_pages_show() -> None:
    states = served_states()
    assert states["all"][:3] == ["queued", "running", "retrying"]
    for part in ("terminal", "failure"):
        assert states[part] == [state for state in states["all"] if state in states[part]]


def test_every_state_has_a_colour() -> None:
    css = CSS.read_text()
    rules = set(re.findall(r"\.([sfwa]-[a-z_]+)\b", css))
    for state in RunState:
        assert {f"s-{state.value}", f"f-{state.value}"} <= rules, state
    for worker_state in WORKER_STATES:
        assert f"w-{worker_state}" in rules, worker_state
    for alert_state in ALERT_STATES:
        assert f"a-{alert_state}" in rules, alert_state


def test_the_page_lists_every_alert_state_in_order() -> None:
    assert served_config()["alert_states"] == list(ALERT_STATES)

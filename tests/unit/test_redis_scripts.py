"""The Redis store's Lua scripts and rows: put together from the ``.lua`` files and from
TSS's own definitions, never restated by hand."""

from __future__ import annotations

from tss.core.flows import SATISFIES
from tss.core.states import TERMINAL_STATES
from tss.store import encoding
from tss.store.redis import codec, scripts


def test_a_row_holds_the_sql_columns_in_their_order() -> None:
    # The shared decoder reads a Redis row as a SQL row: same columns, same order.
    assert list(codec.RUN_COLUMNS.values()) == list(encoding.RunRow._fields)
    assert tuple(codec.RUN_COLUMNS) == codec.RUN_FIELDS


def test_the_scripts_get_the_field_list_and_the_rules_written_in() -> None:
    fields = "local RUN_FIELDS = {" + ", ".join(f"'{f}'" for f in codec.RUN_FIELDS) + "}"
    assert fields in scripts.RUN_ROWS
    assert fields in scripts.FINISH
    for state in TERMINAL_STATES:
        assert f"{state.value} = true" in scripts.FINISH.split("local TERMINAL = ")[1]
    for on in SATISFIES:
        assert f"{on} = {{" in scripts.FINISH.split("local SATISFIES = ")[1]


def test_each_script_is_its_parts_then_one_block() -> None:
    # Read-only scripts carry no write helpers; writers carry the flow rules.
    assert "local function move" not in scripts.RUN_ROWS
    assert "local function settle" in scripts.CANCEL
    assert "local function set_edges" in scripts.UPDATE_JOB
    assert "local function set_edges" not in scripts.SET_PAUSED
    for name in ("HEARTBEAT", "CLAIM", "LOGS", "CREATE_SESSION"):
        body = getattr(scripts, name).rstrip()
        assert body.endswith("\nend"), name

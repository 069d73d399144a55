"""The Lua scripts of the Redis store, read once from ``scripts/*.lua`` (see
:mod:`tss.store.redis.store` for the key layout).

Every step that touches more than one key is one script, so Redis runs it whole with
nothing in between: that is what makes a claim, a fire or a finish atomic. A script that
writes reads the clock with ``TIME`` (the store's clock, guarantee 5); since Redis 5 a
script is replicated by its effects, so replicas and the AOF get the values, not the call.

Conventions shared by every script:

- ``ARGV[1]`` is the key prefix (``<prefix>:store:``); keys are built from it inside the
  script. That is why the store wants one Redis server (or a Sentinel group), not a Cluster.
- Times are integer microseconds since the epoch, always passed and stored as decimal
  strings written with ``%.0f``: Lua numbers are doubles, exact to 2^53 (year 2255), but
  Lua's and Redis's default number-to-text conversions use 14 significant digits.
- A script never fails half-way on purpose: everything that could refuse a batch is
  checked before the first write (Redis does not roll a script back).
- A run's hash holds its fields; the indexes (the key layout's zsets and sets) are derived
  from them by ``index()``, which every transition calls once to take the run out (old
  fields) and once to put it back (new fields), so they cannot drift apart.

How a file becomes scripts: a line ``-- part: <name>`` starts a shared part (``lib.lua``:
``head``, ``runs``; ``flows.lua``: ``flows``, ``edges``; ``fencing.lua``: ``fencing``;
``claim.lua``: ``claiming``; ``finish.lua``: ``finishing``; ``reads.lua``: ``queues``); a
line
``-- script: <name> (<parts>)`` starts a script, a ``do ... end`` block run after the parts
it names, in that order. Before a part, Python writes in what Lua cannot read from TSS
itself, so no table of its rules is copied into Lua by hand:

- before ``head``: ``RUN_FIELDS``, from :data:`tss.store.redis.codec.RUN_FIELDS`, the one
  tuple that also decodes a row;
- before ``runs``: the state sets ``ACTIVE``, ``TERMINAL``, ``CANCELLABLE`` from
  :mod:`tss.core.states`;
- before ``flows``: ``SATISFIES`` from :data:`tss.core.flows.SATISFIES`;
- before ``fencing``: ``FINISH_TARGETS``, the states a run may leave ``running`` for
  (:mod:`tss.core.states`).

Lua cannot call Python, so these rules are restated in Lua, each under its Python name and
held to it by a test that runs both over every case:

==================================  ===============================  ==========================
Lua                                 restates                         held by
==================================  ===============================  ==========================
``fencing.lua`` holds, may_finish   :mod:`tss.core.fencing`          ``tests/integration/``
``lib.lua`` made_ahead, rewound     :mod:`tss.core.firing`           ``test_redis_store.py``
``flows.lua`` decide, settle        :func:`tss.core.flows.decide`    the conformance suite's
                                                                     flow property test
==================================  ===============================  ==========================
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from importlib import resources
from typing import NamedTuple

from tss.core.flows import SATISFIES
from tss.core.states import ACTIVE_STATES, TERMINAL_STATES, RunState, can_transition
from tss.store.redis.codec import RUN_FIELDS

#: the folder of the ``.lua`` files (package data)
_FILES = resources.files("tss.store.redis").joinpath("scripts")
#: a part's or a script's first line
_START = re.compile(r"^-- (part|script): (\w+)(?: \(([\w, ]*)\))?$", re.MULTILINE)


def _lua_set(states: Iterable[RunState]) -> str:
    """A Lua table literal used as a set of state names."""
    return "{" + ", ".join(f"{state.value} = true" for state in sorted(states)) + "}"


def _satisfies() -> str:
    rows = []
    for on, states in sorted(SATISFIES.items()):
        rows.append(f"{on} = {_lua_set(states)}")
    return "local SATISFIES = {" + ", ".join(rows) + "}\n"


#: what is written in before each part, generated from TSS's own definitions
_GENERATED = {
    "head": "local RUN_FIELDS = {" + ", ".join(f"'{name}'" for name in RUN_FIELDS) + "}\n",
    "runs": (
        f"local ACTIVE = {_lua_set(ACTIVE_STATES)}\n"
        f"local TERMINAL = {_lua_set(TERMINAL_STATES)}\n"
        "local CANCELLABLE = "
        f"{_lua_set(s for s in RunState if can_transition(s, RunState.CANCELLED))}\n"
    ),
    "flows": _satisfies(),
    "fencing": "local FINISH_TARGETS = "
    f"{_lua_set(s for s in RunState if can_transition(RunState.RUNNING, s))}\n",
}


class _Section(NamedTuple):
    """A part or a script as written in its file, from its first line on."""

    kind: str
    name: str
    needs: tuple[str, ...]
    text: str


def _sections(text: str) -> list[_Section]:
    starts = list(_START.finditer(text))
    sections = []
    for start, end in zip(starts, [*starts[1:], None], strict=True):
        kind, name, needs = start.groups()
        body = text[start.start() : end.start() if end is not None else len(text)]
        parts = tuple(part.strip() for part in (needs or "").split(",") if part.strip())
        sections.append(_Section(kind, name, parts, body))
    return sections


def _load() -> tuple[dict[str, str], dict[str, str]]:
    """Every part and every script by name, whole: a part after what is written in before
    it; a script after the parts it names.

    :raises RuntimeError: two sections share a name, or a script names no such part.
    """
    parts: dict[str, str] = {}
    scripts: dict[str, _Section] = {}
    for path in sorted(_FILES.iterdir(), key=lambda path: path.name):
        if not path.name.endswith(".lua"):
            continue
        for section in _sections(path.read_text("utf-8")):
            if section.name in parts or section.name in scripts:
                raise RuntimeError(f"{path.name}: a second Lua section named {section.name!r}")
            if section.kind == "part":
                parts[section.name] = _GENERATED.get(section.name, "") + section.text
            else:
                scripts[section.name] = section
    whole = {}
    for name, script in scripts.items():
        missing = [part for part in script.needs if part not in parts]
        if missing:
            raise RuntimeError(f"Lua script {name!r} needs no such part: {missing}")
        whole[name] = "".join(parts[part] for part in script.needs) + script.text
    return parts, whole


#: every shared part as a script gets it, by name (a test runs a helper alone with it)
PARTS, _SCRIPTS = _load()

# -- runs: create, fire, promote, publish, claim, heartbeat, finish, cancel (their files) --
CREATE_RUNS = _SCRIPTS["create_runs"]
FIRE_READ = _SCRIPTS["fire_read"]
FIRE = _SCRIPTS["fire"]
PROMOTE = _SCRIPTS["promote"]
MARK_PUBLISHED = _SCRIPTS["mark_published"]
CLAIM = _SCRIPTS["claim"]
CLAIM_NEXT = _SCRIPTS["claim_next"]
FINISH_CLAIM = _SCRIPTS["finish_claim"]
HEARTBEAT = _SCRIPTS["heartbeat"]
FINISH = _SCRIPTS["finish"]
SAVE_LOGS = _SCRIPTS["save_logs"]
CANCEL = _SCRIPTS["cancel"]
FAIL_QUEUED = _SCRIPTS["fail_queued"]
# -- jobs.lua --
CREATE_JOB = _SCRIPTS["create_job"]
UPDATE_JOB = _SCRIPTS["update_job"]
SET_PAUSED = _SCRIPTS["set_paused"]
DELETE_JOB = _SCRIPTS["delete_job"]
# -- pauses.lua --
RESUME_DUE_PAUSES = _SCRIPTS["resume_due_pauses"]
# -- history.lua --
ADD_AUDIT = _SCRIPTS["add_audit"]
# -- reads.lua --
FIND_UNPUBLISHED = _SCRIPTS["find_unpublished"]
FETCH_QUEUED = _SCRIPTS["fetch_queued"]
DUE_IN = _SCRIPTS["due_in"]
LAST_RUNS = _SCRIPTS["last_runs"]
RUN_ROWS = _SCRIPTS["run_rows"]
ATTEMPTS = _SCRIPTS["attempts"]
LOGS = _SCRIPTS["logs"]
RUN_EVENTS = _SCRIPTS["run_events"]
# -- workers.lua --
REGISTER_WORKER = _SCRIPTS["register_worker"]
SET_WORKER_STATE = _SCRIPTS["set_worker_state"]
MARK_DEAD = _SCRIPTS["mark_dead"]
# -- tokens.lua --
CREATE_TOKEN = _SCRIPTS["create_token"]
REVOKE_TOKENS = _SCRIPTS["revoke_tokens"]
TOUCH_TOKEN = _SCRIPTS["touch_token"]
CREATE_SESSION = _SCRIPTS["create_session"]
# -- alerts.lua --
ADD_ALERTS = _SCRIPTS["add_alerts"]
DUE_ALERTS = _SCRIPTS["due_alerts"]
SETTLE_ALERTS = _SCRIPTS["settle_alerts"]
TAKE_LEASE = _SCRIPTS["take_lease"]
SAVE_LEASE = _SCRIPTS["save_lease"]
# -- retention.lua --
PRUNE_RUNS = _SCRIPTS["prune_runs"]
COUNT_PRUNABLE = _SCRIPTS["count_prunable"]
PRUNE_ALERTS = _SCRIPTS["prune_alerts"]
PRUNE_SILENCES = _SCRIPTS["prune_silences"]
PRUNE_LEDGER = _SCRIPTS["prune_ledger"]
READ_LEDGER = _SCRIPTS["read_ledger"]
PRUNE_AUDIT = _SCRIPTS["prune_audit"]
ADD_BACKFILL = _SCRIPTS["add_backfill"]
UPDATE_BACKFILL = _SCRIPTS["update_backfill"]

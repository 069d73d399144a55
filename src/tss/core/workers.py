"""Workers: the states a worker is in, and the room it has for new runs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tss.errors import ValidationError

if TYPE_CHECKING:
    from tss.core.models import Run, RunPolicy

#: the state of a worker: as stored, as shown, and as the API and metrics write it
WorkerState = Literal["up", "draining", "down", "dead"]
#: every worker state, in the order metrics and listings show them
WORKER_STATES: tuple[WorkerState, ...] = ("up", "draining", "down", "dead")
#: the states of a worker that is expected to heartbeat (one silent too long becomes dead)
LIVE_WORKER_STATES: tuple[WorkerState, ...] = ("up", "draining")


def worker_state(value: str) -> WorkerState:
    """``value`` as a worker state.

    :raises ValidationError: it is not one of :data:`WORKER_STATES` (field ``state``).
    """
    if value not in WORKER_STATES:
        raise ValidationError.worker_state(value, WORKER_STATES)
    return value


#: a worker label or a job's required label: a name (``gpu``) or ``name=value``
#: (``region=eu``); matched exactly, case and all
LABEL_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(=[A-Za-z0-9_.:/+-]{1,128})?")
#: the most labels a worker may offer or a job may require
MAX_LABELS = 64


def check_labels(values: Iterable[str]) -> list[str]:
    """``values`` as labels, in order, without repeats.

    :raises ValueError: one is not a label (:data:`LABEL_PATTERN`), or there are more than
        :data:`MAX_LABELS`; pydantic reports it under the field it validates.
    """
    labels = list(dict.fromkeys(values))
    for label in labels:
        if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
            raise ValueError(
                f"{label!r} is not a label: write a name such as 'gpu' or a name=value pair "
                "such as 'region=eu' (letters, digits, '_', '.', '-'; a value may also hold "
                "':', '/', '+')"
            )
    if len(labels) > MAX_LABELS:
        raise ValueError(f"{len(labels)} labels: at most {MAX_LABELS} are allowed")
    return labels


def can_take(policy: RunPolicy, types: frozenset[str] | None, labels: frozenset[str]) -> bool:
    """Whether a worker that runs task ``types`` (None: any) and has ``labels`` may take a
    run with ``policy``: it has the run's task type and every label the run requires. A run
    whose stored policy is unreadable is taken by anyone: its worker fails it with the
    reason (the store quarantines it)."""
    if policy.malformed is not None:
        return True
    return (types is None or policy.type in types) and labels.issuperset(policy.requires)


@dataclass(frozen=True, slots=True)
class Room:
    """The resources a worker has free for new runs: ``cores`` and ``memory`` (MB) left."""

    cores: float
    memory: int

    def fit(self, candidates: Iterable[tuple[str, float, int]]) -> list[str]:
        """The ids of the ``(id, cores, memory)`` candidates, in order, that fit together;
        a candidate that does not fit in what is left is passed over. A run asking for no
        memory fits any memory."""
        cores, memory, chosen = self.cores + 1e-9, self.memory, []
        for run_id, need_cores, need_memory in candidates:
            if need_cores <= cores and (need_memory == 0 or need_memory <= memory):
                chosen.append(run_id)
                cores -= need_cores
                memory -= need_memory
        return chosen

    def fit_runs(self, runs: Iterable[Run]) -> list[str]:
        """:meth:`fit` of ``runs``, by the cores and memory their policies ask for."""
        return self.fit((r.id, r.policy.cores, r.policy.memory) for r in runs)

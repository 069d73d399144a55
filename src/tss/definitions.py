"""Job definitions at the door: parsed, validated and checked before anything is stored."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from tss.config import read_yaml
from tss.core.graph import find_cycle
from tss.core.models import JobSpec
from tss.core.overrides import check_overridable
from tss.errors import ConfigError, TSSError, ValidationError, field_path
from tss.tasks.registry import TaskRegistry


def parse_job(data: Any, *, where: str = "") -> JobSpec:
    """Validate one job definition (a mapping).

    :raises ValidationError: naming the job and the field, e.g.
        ``job 'nightly': schedule.cron: invalid cron expression ...``.
    """
    if isinstance(data, JobSpec):
        return data
    if not isinstance(data, Mapping):
        raise ValidationError(f"{where}a job must be a mapping of keys", field=None)
    name = data.get("name")
    label = f"job {name!r}" if isinstance(name, str) else "job (no name)"
    try:
        return JobSpec.model_validate(dict(data))
    except PydanticValidationError as exc:
        err = exc.errors()[0]
        field = field_path(err["loc"]) or "job"
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "is required"
        raise ValidationError(f"{where}{label}: {field}: {msg}", field=field) from exc


def check_jobs(
    specs: Sequence[JobSpec],
    registry: TaskRegistry,
    *,
    existing: Mapping[str, Sequence[str]] | None = None,
    where: str = "",
    channels: Collection[str] | None = None,
) -> list[JobSpec]:
    """Check a batch of definitions together: task types and params, duplicate names,
    unknown parents, dependency cycles, and (given the config's alert ``channels``) the
    channels their alert rules name. ``existing`` maps stored job names to their parents.

    :raises ValidationError: the first problem, naming the job and field.
    """
    seen: set[str] = set()
    checked: list[JobSpec] = []
    for spec in specs:
        if spec.name in seen:
            raise ValidationError(f"{where}job {spec.name!r}: name: defined twice", field="name")
        seen.add(spec.name)
        try:
            task_type = registry.get(spec.type)
            params = task_type.validate(dict(spec.params))
            check_overridable(spec.overridable, task_type.executes, task_type=spec.type)
        except TSSError as exc:
            raise ValidationError(
                f"{where}job {spec.name!r}: {exc.field or 'params'}: {exc.message}",
                field=exc.field,
            ) from exc
        if channels is not None and spec.alerts is not None:
            for i, rule in enumerate(spec.alerts.rules):
                for name in rule.channels:
                    if name not in channels:
                        have = ", ".join(sorted(channels)) or "none are configured"
                        field = f"alerts.rules[{i}].channels"
                        raise ValidationError(
                            f"{where}job {spec.name!r}: {field}: no alert channel named "
                            f"{name!r} (channels: {have})",
                            field=field,
                        )
        checked.append(
            spec if params == spec.params else spec.model_copy(update={"params": params})
        )
    graph: dict[str, list[str]] = {k: list(v) for k, v in (existing or {}).items()}
    for spec in checked:
        graph[spec.name] = [d.job for d in spec.depends_on]
    for spec in checked:
        for dep in spec.depends_on:
            if dep.job not in graph:
                raise ValidationError(
                    f"{where}job {spec.name!r}: depends_on: unknown job {dep.job!r}",
                    field="depends_on",
                )
    cycle = find_cycle(graph)
    if cycle:
        raise ValidationError(
            f"{where}depends_on: dependency cycle {' -> '.join(cycle)}", field="depends_on"
        )
    return checked


def load_job_file(path: Path) -> list[JobSpec]:
    """Read job definitions from a YAML file: a list of jobs, or a mapping with ``jobs:``.

    :raises ConfigError: the file is missing or malformed.
    :raises ValidationError: a job is invalid (naming file, job and field).
    """
    if not path.is_file():
        raise ConfigError(f"job file {path} does not exist")
    data = read_yaml(path)
    if isinstance(data, Mapping):
        data = data.get("jobs", [])
    if data is None:
        data = []
    if not isinstance(data, list):
        raise ValidationError(f"{path}: expected a list of jobs or a mapping with 'jobs:'")
    return [parse_job(item, where=f"{path}: ") for item in data]


def check_imports(specs: Sequence[JobSpec], *, where: str = "") -> None:
    """Import each python job's function, in this process: for a CLI that applies a file
    itself, so that a typo fails before anything is stored. Never called by the API (a
    request must not make the server run a module's code); workers import at run time.

    :raises ValidationError: a function cannot be imported, naming the job and field.
    """
    from tss.tasks.python import resolve

    for spec in specs:
        target = spec.params.get("function") if spec.type == "python" else None
        if not isinstance(target, str):
            continue
        try:
            resolve(target)
        except ValidationError as exc:
            raise ValidationError(
                f"{where}job {spec.name!r}: {exc.field}: {exc.message}", field=exc.field
            ) from exc

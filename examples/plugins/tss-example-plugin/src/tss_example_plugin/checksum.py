"""The ``checksum`` task type: the digest of a file or a text, and a failed run when it is
not the one expected::

    jobs:
      - name: verify-backup
        type: checksum
        params: {path: backups/latest.tar.gz, expect: "9f86d081884c7d65..."}

Its plugin config (``task_plugins: [{entry_point: checksum, config: {...}}]``) may give
``root``, the folder relative paths are read from and that no path may leave (default:
the worker's working directory, and any path), and ``algorithm``, the default algorithm
(``sha256``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from pathlib import Path
from typing import IO, Any

from tss.errors import ValidationError
from tss.tasks import ExecutionContext, TaskFailure, TaskType

#: read this much at a time: a cancel or a timeout is noticed between two reads
CHUNK = 1 << 20
#: hashlib's guaranteed algorithms with a fixed digest size (``shake_*`` need a length)
ALGORITHMS = frozenset(a for a in hashlib.algorithms_guaranteed if not a.startswith("shake_"))
PARAMS = frozenset({"path", "text", "algorithm", "expect"})
CONFIG = frozenset({"root", "algorithm"})
_HEX = re.compile(r"[0-9a-fA-F]+")


class ChecksumTask(TaskType):
    """The digest of ``params.path`` (a file) or ``params.text`` (UTF-8), with
    ``params.algorithm`` (default: the plugin config's, else ``sha256``). With
    ``params.expect`` (hex), a different digest fails the run with error type
    ``ChecksumMismatch``; a file that cannot be read fails it with ``FileUnreadable``.

    Returns ``{"algorithm": ..., "digest": ..., "size": bytes}``.
    """

    name = "checksum"
    # Which file is read is the job's decision: no run may override it.
    executes = frozenset({"path"})

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        """:raises ValidationError: a config key that is unknown or wrong (named)."""
        config = dict(config or {})
        unknown = sorted(set(config) - CONFIG)
        if unknown:
            raise ValidationError(
                f"unknown key; checksum's config takes {', '.join(sorted(CONFIG))}",
                field=unknown[0],
            )
        root = config.get("root")
        if root is not None and (not isinstance(root, str) or not Path(root).is_dir()):
            raise ValidationError(f"{root!r} is not an existing folder", field="root")
        self.root = Path(root).resolve() if root is not None else None
        self.algorithm = _algorithm(config.get("algorithm", "sha256"), "algorithm")

    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """Exactly one of ``path`` and ``text``; a known ``algorithm``; ``expect`` as hex of
        the algorithm's length (returned in lower case)."""
        unknown = sorted(set(params) - PARAMS)
        if unknown:
            raise ValidationError(
                f"checksum takes only {', '.join(sorted(PARAMS))}", field=f"params.{unknown[0]}"
            )
        given = [key for key in ("path", "text") if key in params]
        if len(given) != 1:
            raise ValidationError("give either path (a file) or text", field="params.path")
        source = params[given[0]]
        if not isinstance(source, str) or (given[0] == "path" and not source):
            raise ValidationError(f"{given[0]} must be a string", field=f"params.{given[0]}")
        if given[0] == "path":
            self._resolve(source)  # refuses a path that leaves the root, at the door
        algorithm = _algorithm(params.get("algorithm", self.algorithm), "params.algorithm")
        expect = params.get("expect")
        if expect is None:
            return params
        length = hashlib.new(algorithm).digest_size * 2
        if not isinstance(expect, str) or len(expect) != length or not _HEX.fullmatch(expect):
            raise ValidationError(
                f"expect must be a {algorithm} digest: {length} hex digits", field="params.expect"
            )
        return {**params, "expect": expect.lower()}

    async def execute(self, ctx: ExecutionContext) -> Any:
        """Hash the file in chunks off the event loop, so a timeout or a cancel stops it
        between two chunks."""
        params = ctx.params
        algorithm = params.get("algorithm", self.algorithm)
        async with asyncio.timeout(ctx.timeout):
            if "path" in params:
                what = str(params["path"])
                digest, size = await _file_digest(self._resolve(what), algorithm)
            else:
                what, data = "<text>", params["text"].encode("utf-8")
                digest, size = hashlib.new(algorithm, data).hexdigest(), len(data)
        ctx.stdout.write(f"{algorithm} {digest}  {what}\n")
        expect = params.get("expect")
        if expect is not None and not hmac.compare_digest(expect, digest):
            raise TaskFailure(
                "ChecksumMismatch", f"{what}: the {algorithm} digest is {digest}, not {expect}"
            )
        return {"algorithm": algorithm, "digest": digest, "size": size}

    def _resolve(self, text: str) -> Path:
        if self.root is None:
            return Path(text)
        path = (self.root / text).resolve()
        if not path.is_relative_to(self.root):
            raise ValidationError(
                f"{text!r} is outside the folder this plugin may read ({self.root})",
                field="params.path",
            )
        return path


def _algorithm(value: Any, field: str) -> str:
    if value not in ALGORITHMS:
        raise ValidationError(
            f"{value!r} is not an algorithm: use one of {', '.join(sorted(ALGORITHMS))}",
            field=field,
        )
    return str(value)


async def _file_digest(path: Path, algorithm: str) -> tuple[str, int]:
    digest = hashlib.new(algorithm)
    try:
        handle = await asyncio.to_thread(path.open, "rb")
    except OSError as exc:
        raise TaskFailure("FileUnreadable", f"{path}: {exc.strerror or exc}") from exc
    size = 0
    try:
        while read := await asyncio.to_thread(_update, digest, handle):
            size += read
    finally:
        handle.close()
    return digest.hexdigest(), size


def _update(digest: Any, handle: IO[bytes]) -> int:
    # In a worker thread: hashlib releases the GIL on large buffers.
    chunk = handle.read(CHUNK)
    digest.update(chunk)
    return len(chunk)

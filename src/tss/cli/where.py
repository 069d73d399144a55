"""Which config file and store a command used, for the messages of commands that find
nothing, and the guard that keeps commands that only read from creating a store.

A command run outside its project folder reads no config file and gets the default store,
``sqlite:///tss.db`` in the working directory: opening that would create an empty database
and answer "no jobs". A reading command refuses instead and says where it looked.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from tss._urls import mask_url
from tss.config import CONFIG_CANDIDATES, Settings
from tss.errors import NotFound

#: what a user can run to create a store (the commands that do)
HOW_TO_CREATE = "`tss job apply -f FILE`, `tss db upgrade` or `tss server`"


def sqlite_path(url: str) -> Path | None:
    """The absolute path of a SQLite store's file (relative paths are from the working
    directory, as SQLite opens them); None for other stores and in-memory SQLite."""
    if urlsplit(url).scheme.split("+")[0] != "sqlite":
        return None
    from tss.store.sqlite import SQLiteStore

    database = SQLiteStore(url).database
    if database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve()


def store_text(settings: Settings) -> str:
    """The store's URL as a user can reuse it (a SQLite path made absolute, passwords
    hidden)."""
    path = sqlite_path(settings.store.url)
    return f"sqlite:///{path}" if path is not None else mask_url(settings.store.url)


def config_text(settings: Settings) -> str:
    """``config: FILE``, or that none was found and where the command looked."""
    if settings.source:
        return f"config: {Path(settings.source).resolve()}"
    looked = " or ".join(CONFIG_CANDIDATES)
    return f"config: none found: no --config, no TSS_CONFIG, no {looked} in {Path.cwd()}"


def where(settings: Settings) -> str:
    """``STORE (config: FILE)``: what a command that found nothing looked in."""
    return f"{store_text(settings)} ({config_text(settings)})"


def missing_store(settings: Settings) -> NotFound:
    """Why a command that only reads refuses a store that was never created (opening it
    would create it: a SQLite file, PostgreSQL's tables, the Redis layout mark): naming the
    store, the config used (or that none was found) and how to fix it."""
    return NotFound(
        f"no store at {store_text(settings)} ({config_text(settings)}): this command "
        "works on an existing store and does not create one. Run it from the project "
        f"folder, pass --config FILE, or set store.url; to start a new store use {HOW_TO_CREATE}",
        field="store.url",
    )

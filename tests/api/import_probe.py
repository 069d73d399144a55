"""A module the API process must never import (tests/api/test_overrides.py): a request that
names it is only ever checked for shape; a worker imports it when it runs."""


def main() -> str:
    return "imported by a worker"

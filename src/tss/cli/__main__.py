"""``python -m tss.cli``: the same as the ``tss`` console script."""

from __future__ import annotations

from tss.cli.app import main

main()

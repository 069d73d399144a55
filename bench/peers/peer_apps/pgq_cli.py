"""``pgq`` as installed, with one fix: pgqueuer 1.6's ``run --log-level`` parser hands the
level on as a string where an enum is expected, so every ``pgq run`` fails at start with
``AttributeError: 'str' object has no attribute 'name'``. The string is turned back into the
enum; everything else is the CLI's own code and defaults."""

import sys

from pgqueuer.core import logconfig

_setup = logconfig.setup_fancy_logger


def _setup_fixed(level):  # type: ignore[no-untyped-def]
    return _setup(logconfig.LogLevel(level) if isinstance(level, str) else level)


logconfig.setup_fancy_logger = _setup_fixed

if __name__ == "__main__":
    from pgqueuer.__main__ import main

    sys.exit(main())

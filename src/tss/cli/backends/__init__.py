"""Where the CLI's commands get their data: one protocol (:mod:`~tss.cli.backends.base`),
two adapters: the config's store (:mod:`~tss.cli.backends.local`) or a server's REST API
(:mod:`~tss.cli.backends.remote`, with :mod:`~tss.cli.backends.wire` for its shapes)."""

"""The ``tss`` command line: Typer commands over the config's store (:class:`tss.service.TSSApp`)
or a server's REST API (``--url``), Rich output."""

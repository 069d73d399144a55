"""The ``tss`` command line: Typer commands over :class:`tss.app.TSSApp`, Rich output."""

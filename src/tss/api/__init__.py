"""The REST API (FastAPI): :func:`tss.api.server.create_api` builds it for a :class:`TSSApp`.

:mod:`tss.api.schemas` holds the wire shapes and imports only pydantic, so the client can
use it without the server's dependencies; nothing here imports FastAPI.
"""

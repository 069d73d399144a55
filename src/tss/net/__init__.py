"""Outbound connections TSS makes on a user's behalf (the ``http`` task type, and alert
channels later): which addresses they may reach, checked when they connect.

:mod:`tss.net.guard` holds the policy (standard library only, so the config can check its
keys with it); :mod:`tss.net.transport` applies it to httpx's connections. Nothing is
imported here, so reading the config never loads httpx.
"""

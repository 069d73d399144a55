"""The version of TSS, in a module of its own so that anything may import it without
loading the package's public surface."""

__version__ = "0.1.0"

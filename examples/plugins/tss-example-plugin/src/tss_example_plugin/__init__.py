"""An example TSS plugin: the ``checksum`` task type (:class:`ChecksumTask`)."""

from tss_example_plugin.checksum import ChecksumTask

__all__ = ["ChecksumTask"]

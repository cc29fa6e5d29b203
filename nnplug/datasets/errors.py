"""The exception raised for every dataset problem."""

from __future__ import annotations


class DatasetError(ValueError):
    """A dataset file is missing, malformed, fails its checksum or cannot be downloaded."""

"""The small exception hierarchy of fedrec.

Every error a user can cause (a bad config, a malformed file, an unknown id)
is one of these, and its message names the problem and the fix.
"""

from __future__ import annotations


class FedrecError(Exception):
    """Base class for every error fedrec raises on purpose."""


class ConfigError(FedrecError, ValueError):
    """A configuration key or value that cannot work (names the key and the fix)."""


class DataError(FedrecError, ValueError):
    """A data file or table that cannot be used (names the file, row and fix)."""


class ModelError(FedrecError, ValueError):
    """A model, backbone or saved state that cannot be loaded or used."""

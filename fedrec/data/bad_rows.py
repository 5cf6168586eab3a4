"""What a loader does with an input row it cannot use.

Real files are messy: a review of an item the meta file lacks, a line cut short, a
timestamp that is not one. By default the first such row stops loading with a
:class:`~fedrec.errors.DataError` that names the file, the line and the fix. With
``drop-bad-rows = true`` the loaders drop those rows instead and say so: one warning per
file counts what was dropped and quotes the first problem, so nothing goes silently.

What counts as a row here is a line or record of input: an interaction that cannot be
read, an interaction of an item the catalog does not have, a catalog or user-file line
that cannot be read (its item's interactions then name an unknown item and go too).
Problems with a whole file (missing, truncated, another release, nothing left after
dropping) stop loading either way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from fedrec.data.schema import RecDataset
from fedrec.errors import DataError

logger = logging.getLogger(__name__)

#: Appended to a bad row's error when rows are not dropped.
HINT = (
    "Or set drop-bad-rows = true (drop_bad_rows=True in Python) to drop such rows; a "
    "warning counts them."
)


@dataclass
class BadRows:
    """Raise on a bad row (``drop=False``, the default) or drop it and count it."""

    drop: bool = False
    #: source -> [rows dropped, the first problem], until :meth:`report`.
    _dropped: dict[str, list] = field(default_factory=dict, repr=False)

    def reject(self, error: DataError, *, source: str, count: int = 1) -> None:
        """Refuse ``count`` rows of ``source`` for the reason ``error`` gives.

        Raises ``error`` (with :data:`HINT`) unless rows are dropped; then the caller
        leaves those rows out and they are counted for :meth:`report`.
        """
        if not self.drop:
            raise DataError(f"{error} {HINT}")
        entry = self._dropped.setdefault(source, [0, str(error)])
        entry[0] += int(count)

    def report(self) -> dict[str, int]:
        """Log one warning per source that lost rows; return the counts and forget them."""
        for source, (count, first) in self._dropped.items():
            logger.warning(
                "%s: dropped %d row(s) that cannot be used (drop-bad-rows = true). The first: %s",
                source,
                count,
                first,
            )
        counts = {source: entry[0] for source, entry in self._dropped.items()}
        self._dropped.clear()
        return counts

    def load(self, loader: Callable[[BadRows], RecDataset]) -> RecDataset:
        """``loader(self)``, reported (whatever happens), its dataset carrying the count."""
        try:
            ds = loader(self)
        finally:
            dropped = sum(self.report().values())
        return replace(ds, dropped_rows=dropped)


def swallowed_rows(value: str, sep: str, fields: int, starts_row: Callable[[str], bool]) -> int:
    """How many rows a value swallowed: the lines after its first shaped like a row of
    ``fields`` fields, where one starts with what ``starts_row`` takes for a row's first
    field. That is a quote opened and never closed, which reads the lines after it into
    one value; a value that merely holds line breaks swallows none (0)."""
    lines = [ln for ln in value.split("\n")[1:] if ln.count(sep) == fields - 1]
    return len(lines) if any(starts_row(ln.split(sep, 1)[0].strip()) for ln in lines) else 0

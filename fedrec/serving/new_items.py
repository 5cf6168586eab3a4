"""New items sent while serving: checked before any model encodes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from fedrec.errors import FedrecError

COLUMNS = ["item_id", "title", "attributes", "scenario", "warm", "added"]


class ServingError(FedrecError, ValueError):
    """A request that cannot be served as asked (names the problem and the fix)."""


def checked(rows: Sequence[Mapping[str, Any]], known: Mapping[str, int]) -> pd.DataFrame:
    """Validated rows of new items (ids neither known nor repeated)."""
    seen: set[str] = set()
    out = []
    for n, row in enumerate(rows):
        item_id = str(row.get("item_id") or "").strip()
        title = str(row.get("title") or "").strip()
        if not item_id or not title:
            raise ServingError(f"items[{n}] needs a non-empty item_id and title.")

        if item_id in known or item_id in seen:
            raise ServingError(
                f"items[{n}]: item_id {item_id!r} is already in the catalog: new items need new "
                "ids (fedrec does not overwrite an item)."
            )
        seen.add(item_id)
        out.append(
            {
                "item_id": item_id,
                "title": title,
                "attributes": str(row.get("attributes") or ""),
                "scenario": str(row.get("scenario") or "default"),
                "warm": False,
                "added": True,
            }
        )
    return pd.DataFrame(out, columns=COLUMNS)

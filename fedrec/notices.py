"""Notices addressed to the maintainers of fedrec's dependencies, not to its users.

Every entry point (the CLI, the Flower ServerApp and ClientApp processes) silences
these before it works, so that a run's output holds only what concerns the run.
"""

from __future__ import annotations

import warnings

#: (message start, category) of each notice.
DEPENDENCY_NOTICES = (
    # transformers asks its own callers to rename a method; fedrec does not call it.
    ("`is_gradient_checkpointing` is deprecated", FutureWarning),
    ("Tip: In future versions of Ray", FutureWarning),
)


def quiet_dependency_notices() -> None:
    for message, category in DEPENDENCY_NOTICES:
        warnings.filterwarnings("ignore", message, category)

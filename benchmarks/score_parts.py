"""What a trained model adds over its own popularity prior: its score in two parts.

A model's score is ``<u, v_i> / temperature + b_i``: a user-item term and the item
bias, which starts at the (under DP, noised) popularity prior and then trains.
This loads a run directory and scores the warm test, the cold-user curve and the
new-to-scenario curve four ways on the run's own split: the model, its item bias
alone (what the model knows of popularity), its user-item term alone (what it
knows of the user) and popularity from the clear training counts. Where the
model is below its bias alone, its user-item term is costing it that slice.

    python benchmarks/score_parts.py runs/quickstart
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.synthetic_ceiling import slice_line


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run", help="a run directory (fedrec train or fedrec simulate)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from fedrec.runs.load import load_run
    from fedrec.runs.rundir import RunDir

    loaded = load_run(RunDir(args.run))
    cm, split = loaded.cm, loaded.split
    items = torch.arange(cm.n_items, device=cm.device)
    with torch.no_grad():
        bias = cm.model.item_offsets(items).float().cpu().numpy()
    counts = split.item_counts().astype(np.float64)

    Histories = Sequence[np.ndarray]

    def model(users: np.ndarray, histories: Histories, scenario: int | None = None) -> np.ndarray:
        return cm.score_all(users, histories, scenario=scenario)

    def user_item(
        users: np.ndarray, histories: Histories, scenario: int | None = None
    ) -> np.ndarray:
        return model(users, histories, scenario) - bias[None, :]

    def constant(values: np.ndarray) -> Callable[[np.ndarray, Histories], np.ndarray]:
        return lambda users, histories: np.tile(values, (len(users), 1))

    k, seed = loaded.cfg.eval.k, loaded.cfg.train.seed  # the seed breaks ties, as in the run
    scorers = (
        ("model", model),
        ("item bias alone", constant(bias)),
        ("user-item term alone", user_item),
        ("popularity", constant(counts)),
    )
    print(f"NDCG@{k} on the split of {args.run}")
    for name, scorer in scorers:
        print(slice_line(name, scorer, split, k=k, seed=seed), flush=True)


if __name__ == "__main__":
    main()

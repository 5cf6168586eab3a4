"""How much signal the synthetic data holds: the generator's own scorer beside popularity.

Builds the split ``fedrec train`` would build with the same ``--set`` overrides and
scores the cold-user curve, the new-to-scenario curve and the warm test with
popularity, scenario popularity and the generator's own scorer
(:func:`fedrec.data.synthetic.oracle_scores`). That scorer combines each user's true
starting taste (in each item's scenario, where tastes differ by scenario) and
scenario activity, the true item themes and popularity, as the generator's choice
logit does (the drift, the session a choice falls in and the noise
are unknown to it). It is not a model and not reachable by one (a model sees a
profile sentence and a few clicks, not the taste), but a model far below it has room
to grow and a model level with it has little: it reads what a target is worth.

    python benchmarks/synthetic_ceiling.py [--set synthetic-users=1500 --set cold-user-fraction=0.3]
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fedrec.data.split import Split
    from fedrec.evaluation.harness import Scorer


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fedrec.baselines import Popularity, ScenarioPopularity
    from fedrec.config import build_config
    from fedrec.config.parse import parse_overrides
    from fedrec.data.loading import prepare_split
    from fedrec.data.synthetic import generate_synthetic, oracle_scores
    from fedrec.evaluation.harness import matrix_scorer, train_matrix

    cfg = build_config(parse_overrides(args.sets))
    if cfg.data.dataset != "synthetic":
        parser.error("the ceiling needs the generator's truth: dataset must be synthetic")
    split = prepare_split(cfg)
    _, truth = generate_synthetic(
        n_users=cfg.data.synthetic_users,
        items_per_scenario=cfg.data.synthetic_items_per_scenario,
        interactions_per_user=cfg.data.synthetic_interactions_per_user,
        scenario_taste=cfg.data.synthetic_scenario_taste,
        seed=cfg.train.seed,
        return_truth=True,
    )
    item_ids = [str(i) for i in split.item_ids]

    def oracle(users: np.ndarray, histories: object, scenario: int | None = None) -> np.ndarray:
        return np.stack(
            [
                oracle_scores(truth, str(split.user_ids[u]), item_ids, split.item_scenario)
                for u in users
            ]
        )

    train = train_matrix(split)
    popularity = matrix_scorer(Popularity().fit(train), split.n_items)
    per_scenario = ScenarioPopularity(split.item_scenario).fit(train)
    scenario_popularity = matrix_scorer(per_scenario, split.n_items)
    k, seed = cfg.eval.k, cfg.train.seed  # the seed breaks ties, as in a run's summary
    scorers = (
        ("popularity", popularity),
        ("scenario-popularity", scenario_popularity),
        ("oracle", oracle),
    )
    for name, scorer in scorers:
        print(slice_line(name, scorer, split, k=k, seed=seed), flush=True)


def slice_line(name: str, scorer: Scorer, split: Split, *, k: int, seed: int) -> str:
    """One line of NDCG@k for ``scorer``: the warm test, each point of the cold-user
    curve and of the new-to-scenario curve (with its users)."""
    from fedrec.evaluation.harness import cold_users_curve, evaluate_cases, new_to_scenario_curve

    key = f"ndcg@{k}"
    test = evaluate_cases(scorer, split.test, split, k=k, seed=seed)
    cold = cold_users_curve(scorer, split, k=k, seed=seed)
    new = new_to_scenario_curve(scorer, split, k=k, seed=seed)
    cells = [f"warm {test[key]:.4f} ({test['users']} users)"]
    cells += [f"cold {c}: {v[key]:.4f} ({v['users']})" for c, v in cold.items()]
    cells += [f"new-to-scenario {c}: {v[key]:.4f} ({v['users']})" for c, v in new.items()]
    return f"{name:>20}  " + "  ".join(cells)


if __name__ == "__main__":
    main()

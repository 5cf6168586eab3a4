import numpy as np

from fedrec.config import build_config
from fedrec.data.split import split_dataset
from fedrec.data.synthetic import generate_synthetic
from fedrec.data.validate import validate_dataset
from fedrec.evaluation.baselines import ZeroShotVectors, run_baselines

NAMES = "popularity,scenario-popularity"


def _vectors(split):
    rng = np.random.default_rng(0)
    return ZeroShotVectors(
        rng.normal(size=(split.n_items, 8)).astype(np.float32),
        np.zeros((split.n_users, 8), dtype=np.float32),
    )


def _split(scenarios, **fractions):
    ds = validate_dataset(
        generate_synthetic(
            n_users=80, items_per_scenario=20, interactions_per_user=12, scenarios=scenarios, seed=1
        ),
        source="synthetic",
    )
    return split_dataset(ds, cold_item_fraction=0.0, cold_user_history=3, seed=1, **fractions)


def test_scenario_popularity_runs_beside_popularity_and_matches_it_within_a_scenario():
    split = _split(
        ["ecommerce", "music", "news"], cold_user_fraction=0.1, new_to_scenario_fraction=0.3
    )
    results = run_baselines(split, build_config({"baselines": NAMES}), _vectors(split))
    assert set(results.results) == {"popularity", "scenario-popularity"}
    per_scenario = results.results["scenario-popularity"]
    overall = results.results["popularity"]
    assert set(per_scenario["cold_users_curve"]) == set(overall["cold_users_curve"])
    # Ranked among one scenario's items it is that scenario's popularity: the per-scenario
    # slices and the new-to-scenario curve are popularity's, to the digit.
    assert overall["new_to_scenario_curve"]["0"]["users"] > 0
    for slice_name in ("scenarios", "new_to_scenario_curve"):
        for key, theirs in overall[slice_name].items():
            assert per_scenario[slice_name][key]["ndcg@10"] == theirs["ndcg@10"]
    # Over all items it differs: warm users' histories move their scenarios up.
    assert per_scenario["test"]["ndcg@10"] != overall["test"]["ndcg@10"]


def test_scenario_popularity_is_skipped_on_data_with_one_scenario():
    split = _split(["music"], cold_user_fraction=0.0)
    results = run_baselines(split, build_config({"baselines": NAMES}), _vectors(split))
    assert set(results.results) == {"popularity"}

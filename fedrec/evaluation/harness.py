"""Full-ranking evaluation of any scorer on a split, sliced the way a user reads it.

A *scorer* is any callable ``(users, histories) -> scores [B, n_items]``: the
trained model, the classic baselines and the zero-shot backbone all go through
the same harness on the same split. Slices:

- ``test``: warm users' last interaction, ranked among every item not in their
  history (full ranking, no sampled negatives);
- ``scenarios``: the same cases grouped by the target's scenario, each ranked
  among that scenario's items (one model serving many domains);
- ``cold_items``: warm users' withheld interactions with cold items, ranked among
  the cold items only;
- ``cold_users``: withheld users, scored from their profile and first clicks;
- ``new_to_scenario_curve``: users whose history in one scenario was withheld,
  scored from their other scenarios (and their first 0, 1, 3 events in it) and
  ranked among that scenario's items.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
import scipy.sparse as sp

from fedrec.data.split import Cases, Split
from fedrec.evaluation.rerank import reranked_top
from fedrec.metrics import evaluate_scores

Scorer = Callable[[np.ndarray, Sequence[np.ndarray]], np.ndarray]


def for_scenario(scorer: Scorer, scenario: int) -> Scorer:
    """``scorer`` for a ranking among one scenario's items: a scorer that takes a
    ``scenario`` keyword (a model with the scenario as an input) is told which one;
    any other is used as it is."""
    try:
        takes = "scenario" in inspect.signature(scorer).parameters
    except (TypeError, ValueError):  # a callable without a signature
        takes = False
    return partial(scorer, scenario=scenario) if takes else scorer


def evaluate_cases(
    scorer: Scorer,
    cases: Cases,
    split: Split,
    *,
    k: int,
    candidates: np.ndarray | None = None,
    item_vectors: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Metrics of ``scorer`` on one set of cases (see :func:`fedrec.metrics.evaluate_scores`)."""

    def score_fn(chunk: np.ndarray) -> np.ndarray:
        return scorer(cases.users[chunk], [cases.history[i] for i in chunk])

    if candidates is not None and not np.asarray(candidates).any():
        # Nothing to rank (e.g. no cold items in this split): every metric is undefined.
        return evaluate_scores(
            score_fn, np.arange(0), [], [], k=k, item_counts=split.item_counts(), rng_seed=seed
        )
    return evaluate_scores(
        score_fn,
        np.arange(len(cases)),
        cases.relevant,
        cases.history,
        candidates=candidates,
        k=k,
        item_vectors=item_vectors,
        item_counts=split.item_counts(),
        rng_seed=seed,
    )


def evaluate_split(
    scorer: Scorer,
    split: Split,
    *,
    k: int,
    item_vectors: np.ndarray | None = None,
    seed: int = 0,
) -> dict[str, object]:
    """All slices of the test evaluation for one scorer."""
    common = {"k": k, "item_vectors": item_vectors, "seed": seed}
    result: dict[str, object] = {
        "test": evaluate_cases(scorer, split.test, split, **common),
        "cold_items": evaluate_cases(
            scorer, split.cold_item_cases, split, candidates=split.cold_items, **common
        ),
        "cold_users": evaluate_cases(scorer, split.cold_user_cases, split, **common),
        "cold_users_curve": cold_users_curve(scorer, split, **common),
        "new_to_scenario_curve": new_to_scenario_curve(scorer, split, **common),
    }
    target_scenario = np.array(
        [split.item_scenario[rel[0]] for rel in split.test.relevant], dtype=np.int64
    )
    scenarios = {}
    for s, name in enumerate(split.scenarios):
        in_scenario = split.item_scenario == s
        scenarios[name] = evaluate_cases(
            for_scenario(scorer, s),
            split.test.subset(target_scenario == s),
            split,
            candidates=in_scenario,
            **common,
        )
    result["scenarios"] = scenarios
    return result


def cold_users_curve(scorer: Scorer, split: Split, **common: Any) -> dict[str, dict[str, float]]:
    """Cold users' metrics by how many first clicks they are scored from (keys "0", "1",
    ...; :meth:`fedrec.data.split.Split.cold_user_curve`); empty without cold users."""
    if not split.cold_user_items:
        return {}
    return {
        str(clicks): evaluate_cases(scorer, cases, split, **common)
        for clicks, cases in split.cold_user_curve().items()
    }


def new_to_scenario_curve(
    scorer: Scorer, split: Split, **common: Any
) -> dict[str, dict[str, float]]:
    """New-to-scenario users' metrics by how many events in the new scenario are known
    (keys "0", "1", "3"; :meth:`fedrec.data.split.Split.new_to_scenario_curve`): each case
    ranked among its scenario's items, the metrics a case-weighted mean over scenarios;
    empty when the split has none."""
    if not split.new_to_scenario_items:
        return {}
    out = {}
    for clicks, cases in split.new_to_scenario_curve().items():
        target = np.array([split.item_scenario[rel[0]] for rel in cases.relevant])
        parts = [
            evaluate_cases(
                for_scenario(scorer, int(s)),
                cases.subset(target == s),
                split,
                candidates=split.item_scenario == s,
                **common,
            )
            for s in np.unique(target)
        ]
        out[str(clicks)] = _pooled(parts)
    return out


def _pooled(parts: list[dict[str, float]]) -> dict[str, float]:
    """Case-weighted means of every metric of ``parts``; ``users`` summed."""
    weights = np.array([float(p.get("users", 0)) for p in parts])
    pooled = {"users": int(weights.sum())}
    for key in parts[0]:
        if key != "users" and weights.sum() > 0:
            pooled[key] = float(np.average([p[key] for p in parts], weights=weights))
    return pooled


def matrix_scorer(model: object, n_items: int) -> Scorer:
    """Adapt a baseline with ``score(csr_history) -> [B, n_items]`` to a :data:`Scorer`."""

    def score(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        return model.score(history_matrix(histories, n_items))  # type: ignore[attr-defined]

    return score


def history_matrix(histories: Sequence[np.ndarray], n_items: int) -> sp.csr_matrix:
    """Binary [B, n_items] matrix of the given histories."""
    lengths = [len(h) for h in histories]
    rows = np.repeat(np.arange(len(histories)), lengths)
    cols = np.concatenate([np.asarray(h, dtype=np.int64) for h in histories]) if rows.size else rows
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(histories), n_items))


def train_matrix(split: Split) -> sp.csr_matrix:
    """The binary user-item matrix of the training interactions."""
    train = split.train
    data = np.ones(len(train), dtype=np.float32)
    m = sp.csr_matrix(
        (data, (train["user"].to_numpy(), train["item"].to_numpy())),
        shape=(split.n_users, split.n_items),
    )
    m.data[:] = 1.0
    return m


def reranked_scorer(scorer: Scorer, vectors: np.ndarray, k: int, diversity: float) -> Scorer:
    """``scorer`` with its top ``k`` re-ranked by MMR (:mod:`fedrec.evaluation.rerank`), as
    serving does with ``diversity``: the re-ranked list gets the highest scores, in its
    order, and the rest keep theirs below it. History items are never re-ranked in.
    Re-ranks among every item: for slices restricted to ``candidates`` (cold items,
    scenarios) the lists would mix in items outside them, so use it on full-ranking
    slices (``test``, ``cold_users``)."""

    def score(users: np.ndarray, histories: Sequence[np.ndarray]) -> np.ndarray:
        scores = np.asarray(scorer(users, histories), dtype=np.float64)
        masked = scores.copy()
        for row, seen in enumerate(histories):
            masked[row, np.asarray(seen, dtype=np.int64)] = -np.inf
        top = reranked_top(masked, vectors, k, diversity)
        scores = scores.copy()
        finite = np.abs(scores[np.isfinite(scores)])
        base = float(finite.max()) if finite.size else 0.0
        rows = np.repeat(np.arange(len(top)), top.shape[1])
        ranks = np.tile(np.arange(top.shape[1], 0, -1), len(top)).astype(np.float64)
        keep = top.reshape(-1) >= 0
        scores[rows[keep], top.reshape(-1)[keep]] = 2 * base + 1 + ranks[keep]
        return scores

    return score

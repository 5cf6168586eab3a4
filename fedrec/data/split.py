"""Train / validation / test splits, cold-start items and cold-start users.

The split works on integer indices (item index = row of the catalog, user index
= position in :attr:`Split.user_ids`) so models and metrics never touch strings.

Policy, in order:

1. Optional k-core filtering of interactions (:func:`kcore_filter`).
2. **Cold items**: a ``cold_item_fraction`` of the catalog's items is chosen at
   random (from the catalog alone: which items are new arrivals is public
   knowledge, never a function of who interacted with what); every interaction
   with them is withheld from training. They
   are evaluated by ranking them *among the cold items only* (the candidates a
   platform has for new arrivals), for the warm users who interacted with them.
3. **Cold users**: a ``cold_user_fraction`` of users is withheld from training.
   Each is scored from its profile text (where present) and its first
   ``cold_user_history`` warm interactions; its last warm interaction is its
   test target.
4. **New to a scenario** (``new_to_scenario_fraction``, off by default): users
   whose last warm interaction is in a scenario S where they have at least
   four interactions, and who have at least two interactions elsewhere before
   it. Every interaction of theirs in S is withheld from training; they are
   scored on S's items from their history in the other scenarios (and the
   first 0, 1 or 3 events in S), the last one in S being the target. Their
   interactions elsewhere train and are evaluated like any warm user's.
5. **Leave-last-out** for every other user, by time: the last warm interaction is
   the test target, the second-to-last the validation target, the rest train.
   Users with fewer than three warm interactions train on all of them and are
   not evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from fedrec.data.schema import RecDataset
from fedrec.errors import DataError

#: Clicks a cold user is scored from at each point of the cold-users curve.
CURVE_CLICKS = (0, 1, 3, 5)
#: Events in the new scenario a new-to-scenario user is scored from, at each point.
NEW_SCENARIO_CLICKS = (0, 1, 3)


@dataclass(frozen=True)
class Cases:
    """Evaluation cases: one user (or cold user) each, with what is known of them.

    ``history[i]`` are the item indices the scorer may use (time order, oldest
    first) and that are excluded from the ranking; ``relevant[i]`` the held-out
    items to find.
    """

    users: np.ndarray  # [n] user index
    history: list[np.ndarray]
    relevant: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.users)

    def subset(self, mask: np.ndarray) -> Cases:
        idx = np.flatnonzero(mask)
        return Cases(
            users=self.users[idx],
            history=[self.history[i] for i in idx],
            relevant=[self.relevant[i] for i in idx],
        )


@dataclass(frozen=True)
class Split:
    """A dataset turned into indices and divided for training and evaluation."""

    item_ids: np.ndarray  # [n_items] str, catalog order
    item_text: list[str]  # [n_items]
    item_scenario: np.ndarray  # [n_items] int index into scenarios
    scenarios: list[str]
    user_ids: np.ndarray  # [n_users] str
    profiles: list[str]  # [n_users], '' where the user has none
    cold_items: np.ndarray  # [n_items] bool
    train: pd.DataFrame  # columns user, item, timestamp (sorted by user, timestamp)
    valid: Cases
    test: Cases
    cold_item_cases: Cases
    cold_user_cases: Cases
    stats: dict[str, int] = field(default_factory=dict)
    #: Each cold user's warm interactions in time order (``cold_user_cases`` order).
    cold_user_items: list[np.ndarray] = field(default_factory=list)
    #: New-to-scenario users: (user, scenario S, warm interactions up to the last one in
    #: S, which is the target), time order; their S rows are not in ``train``.
    new_to_scenario_items: list[tuple[int, int, np.ndarray]] = field(default_factory=list)

    def new_to_scenario_curve(
        self, clicks: Sequence[int] = NEW_SCENARIO_CLICKS
    ) -> dict[int, Cases]:
        """New-to-scenario users scored from their interactions elsewhere and their
        first ``c`` events in S, for each ``c``; the target is their last event in S
        (rank it among S's items). The same users at every point."""
        out = {}
        users = np.array([u for u, _, _ in self.new_to_scenario_items], dtype=np.int64)
        for c in clicks:
            history = []
            for _, scenario, seq in self.new_to_scenario_items:
                inside = self.item_scenario[seq] == scenario
                keep = ~inside | (np.cumsum(inside) <= c)
                keep[-1] = False  # the target
                history.append(seq[keep])
            targets = [seq[-1:] for _, _, seq in self.new_to_scenario_items]
            out[c] = Cases(users, history, targets)
        return out

    def cold_user_curve(self, clicks: Sequence[int] = CURVE_CLICKS) -> dict[int, Cases]:
        """The cold users with more than ``max(clicks)`` warm interactions, scored from
        their first ``c`` clicks (and their profile) for each ``c``; the target is their
        last interaction. The same users at every point, so the points compare."""
        need = max(clicks) + 1
        keep = [i for i, seq in enumerate(self.cold_user_items) if len(seq) >= need]
        users = self.cold_user_cases.users[keep]
        seqs = [self.cold_user_items[i] for i in keep]
        return {
            c: Cases(users, [seq[:c] for seq in seqs], [seq[-1:] for seq in seqs]) for c in clicks
        }

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def warm_items(self) -> np.ndarray:
        """Items with at least one training interaction (bool mask)."""
        mask = np.zeros(self.n_items, dtype=bool)
        mask[self.train["item"].to_numpy()] = True
        return mask

    def item_counts(self) -> np.ndarray:
        """Training interactions per item (the popularity used by novelty)."""
        return np.bincount(self.train["item"].to_numpy(), minlength=self.n_items)

    def train_histories(self) -> dict[int, np.ndarray]:
        """Each training user's items in time order."""
        return {int(u): g["item"].to_numpy() for u, g in self.train.groupby("user", sort=False)}


def kcore_filter(ds: RecDataset, k: int) -> RecDataset:
    """Keep only interactions whose user and item both have >= k interactions, iterated.

    The catalog is kept whole: an item left without interactions is still
    recommendable from its text.
    """
    if k <= 1:
        return ds
    inter = ds.interactions
    while True:
        users = inter["user_id"].value_counts()
        items = inter["item_id"].value_counts()
        keep = inter["user_id"].map(users).ge(k) & inter["item_id"].map(items).ge(k)
        if keep.all():
            break
        inter = inter[keep]
    if inter.empty:
        raise DataError(f"kcore={k} removed every interaction: lower kcore (or set it to 0).")
    return replace(ds, interactions=inter.reset_index(drop=True))


def split_dataset(
    ds: RecDataset,
    *,
    cold_item_fraction: float,
    cold_user_fraction: float,
    cold_user_history: int,
    seed: int,
    new_to_scenario_fraction: float = 0.0,
) -> Split:
    """Divide ``ds`` as described in the module docstring (deterministic by seed)."""
    rng = np.random.default_rng(seed)
    items = ds.items.reset_index(drop=True)
    item_index = pd.Series(np.arange(len(items)), index=items["item_id"].to_numpy())
    scenarios = sorted(items["scenario"].unique().tolist())
    scen_index = {s: i for i, s in enumerate(scenarios)}

    inter = ds.interactions
    user_ids = np.array(sorted(inter["user_id"].unique()), dtype=object)
    user_index = pd.Series(np.arange(len(user_ids)), index=user_ids)
    frame = pd.DataFrame(
        {
            "user": user_index.loc[inter["user_id"].to_numpy()].to_numpy(),
            "item": item_index.loc[inter["item_id"].to_numpy()].to_numpy(),
            "timestamp": inter["timestamp"].to_numpy(),
        }
    )
    # Stable sort keeps file order between equal timestamps.
    frame = frame.sort_values(["user", "timestamp"], kind="stable").reset_index(drop=True)

    # New arrivals are catalog knowledge: chosen among the catalog's items, never from who
    # interacted with what (which would make the public warm mask a function of private data).
    n_cold_items = round(cold_item_fraction * len(items))
    cold_items = np.zeros(len(items), dtype=bool)
    cold_items[rng.choice(len(items), size=n_cold_items, replace=False)] = True

    is_cold_item = cold_items[frame["item"].to_numpy()]
    warm = frame[~is_cold_item]
    cold_frame = frame[is_cold_item]
    cold_user_mask = _pick_cold_users(
        warm, len(user_ids), cold_user_fraction, cold_user_history, rng
    )

    item_scenario = items["scenario"].map(scen_index).to_numpy(dtype=np.int64)
    new_to_scenario: list[tuple[int, int, np.ndarray]] = []
    if new_to_scenario_fraction > 0:  # no draw otherwise: other splits stay as they were
        count = round(new_to_scenario_fraction * len(user_ids))
        withheld, new_to_scenario = _new_to_scenario(
            warm, item_scenario, cold_user_mask, count, rng
        )
        warm = warm[~withheld]
    train, valid, test, cold_user_cases, cold_items_of = _leave_last_out(
        warm, cold_user_mask, cold_user_history
    )
    cold_item_cases = _cold_item_cases(train, cold_frame)
    profiles = _profile_texts(ds, user_index)

    return Split(
        item_ids=items["item_id"].to_numpy(dtype=object),
        item_text=ds.item_text(),
        item_scenario=item_scenario,
        scenarios=scenarios,
        user_ids=user_ids,
        profiles=profiles,
        cold_items=cold_items,
        train=train,
        valid=valid.build(),
        test=test.build(),
        cold_item_cases=cold_item_cases.build(),
        cold_user_cases=cold_user_cases.build(),
        stats={
            "train_interactions": len(train),
            "cold_items": int(cold_items.sum()),
            "cold_users": int(cold_user_mask.sum()),
            "test_users": len(test.users),
            "new_to_scenario_users": len(new_to_scenario),
            "dropped_rows": ds.dropped_rows,
        },
        cold_user_items=cold_items_of,
        new_to_scenario_items=new_to_scenario,
    )


def _pick_cold_users(
    warm: pd.DataFrame, n_users: int, fraction: float, history: int, rng: np.random.Generator
) -> np.ndarray:
    """The cold users (bool mask over users): ``fraction`` of all users, drawn among
    those with more than ``history`` warm interactions."""
    warm_counts = warm.groupby("user").size().reindex(range(n_users), fill_value=0)
    eligible = np.flatnonzero(warm_counts.to_numpy() >= history + 1)
    count = min(round(fraction * n_users), len(eligible))
    mask = np.zeros(n_users, dtype=bool)
    mask[np.sort(rng.choice(eligible, size=count, replace=False))] = True
    return mask


def _new_to_scenario(
    warm: pd.DataFrame,
    item_scenario: np.ndarray,
    cold_user_mask: np.ndarray,
    count: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, list[tuple[int, int, np.ndarray]]]:
    """Pick up to ``count`` eligible users (module docstring, step 4); the mask of their
    rows in their new scenario, and each one's (user, scenario, sequence)."""
    users, items = warm["user"].to_numpy(), warm["item"].to_numpy()
    scenario = item_scenario[items]
    need = max(NEW_SCENARIO_CLICKS) + 1
    candidates = []
    for user, first, n in zip(*user_runs(users), strict=True):
        seq = scenario[first : first + n]
        inside = seq == seq[-1]
        if not cold_user_mask[user] and inside.sum() >= need and (~inside).sum() >= 2:
            candidates.append((int(user), int(first), int(n)))
    picked = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False)
    withheld = np.zeros(len(warm), dtype=bool)
    chosen = []
    for user, first, n in sorted(candidates[i] for i in picked):
        s = int(scenario[first + n - 1])
        withheld[first : first + n] = scenario[first : first + n] == s
        chosen.append((user, s, np.asarray(items[first : first + n], dtype=np.int64)))
    return withheld, chosen


def user_runs(users: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user, first row, row count) of each run of equal values in sorted ``users``."""
    if len(users) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    start = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    return users[start], start, np.diff(np.r_[start, len(users)])


def _leave_last_out(
    warm: pd.DataFrame, cold_user_mask: np.ndarray, cold_user_history: int
) -> tuple[pd.DataFrame, _CaseBuilder, _CaseBuilder, _CaseBuilder, list[np.ndarray]]:
    """Train rows, validation, test and cold-user cases from the warm interactions (sorted
    by user, then time): per user at once, not per user group (100,000 users in 1 s)."""
    users = warm["user"].to_numpy()
    items = warm["item"].to_numpy()
    owners, start, count = user_runs(users)
    cold = cold_user_mask[owners]
    position = np.arange(len(users)) - np.repeat(start, count)
    per_row_count = np.repeat(count, count)
    keep = ~np.repeat(cold, count) & ((per_row_count < 3) | (position < per_row_count - 2))
    if not keep.any():
        raise DataError(
            "no training interactions are left after the split: lower cold-item-fraction "
            "or cold-user-fraction, or use a larger dataset."
        )
    valid, test, cold_user_cases = _CaseBuilder(), _CaseBuilder(), _CaseBuilder()
    cold_items_of: list[np.ndarray] = []
    for user, first, n, is_cold in zip(owners, start, count, cold, strict=True):
        seq = items[first : first + n]
        if is_cold:
            cold_user_cases.add(user, seq[:cold_user_history], seq[-1:])
            cold_items_of.append(np.asarray(seq, dtype=np.int64))
        elif n >= 3:
            valid.add(user, seq[:-2], seq[-2:-1])
            test.add(user, seq[:-1], seq[-1:])
    return warm[keep].reset_index(drop=True), valid, test, cold_user_cases, cold_items_of


def _cold_item_cases(train: pd.DataFrame, cold_frame: pd.DataFrame) -> _CaseBuilder:
    """Warm users (not cold users) who interacted with cold items."""
    owners, start, count = user_runs(train["user"].to_numpy())
    train_items = train["item"].to_numpy()
    at = {int(u): (int(s), int(n)) for u, s, n in zip(owners, start, count, strict=True)}
    cold_frame = cold_frame.sort_values(["user"], kind="stable")
    cold_users, cold_start, cold_count = user_runs(cold_frame["user"].to_numpy())
    cold_items = cold_frame["item"].to_numpy()
    cases = _CaseBuilder()
    for user, first, n in zip(cold_users, cold_start, cold_count, strict=True):
        if (where := at.get(int(user))) is not None:
            history = train_items[where[0] : where[0] + where[1]]
            cases.add(user, history, np.unique(cold_items[first : first + n]))
    return cases


def _profile_texts(ds: RecDataset, user_index: pd.Series) -> list[str]:
    """Each user's profile text ("" where none), by user index."""
    profiles = [""] * len(user_index)
    if ds.profiles is not None:
        index = dict(zip(user_index.index, user_index.to_numpy(), strict=True))
        for uid, text in zip(ds.profiles["user_id"], ds.profiles["profile"], strict=True):
            if (row := index.get(uid)) is not None:
                profiles[int(row)] = str(text)
    return profiles


class _CaseBuilder:
    def __init__(self) -> None:
        self.users: list[int] = []
        self.history: list[np.ndarray] = []
        self.relevant: list[np.ndarray] = []

    def add(self, user: int, history: np.ndarray, relevant: np.ndarray) -> None:
        self.users.append(int(user))
        self.history.append(np.asarray(history, dtype=np.int64))
        self.relevant.append(np.asarray(relevant, dtype=np.int64))

    def build(self) -> Cases:
        return Cases(np.asarray(self.users, dtype=np.int64), self.history, self.relevant)

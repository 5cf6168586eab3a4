"""Recommendations from a released model: the one class the CLI and the HTTP app wrap.

A request carries what is known of the user (serving never holds histories):
a history of item ids (most recent first), a profile text,
both, or nothing (pure cold start). Nothing from a request is stored or
logged. ``Recommender.load(path)`` reads a serving bundle (``fedrec export``)
or a run directory (exported on first use into ``RUN_DIR/serving/``). A bundle
exported with ``--cold-run`` holds a second model that answers every request whose
history names at most ``--cold-clicks`` catalog items (``served_by = "cold-start"``);
items added while serving reach both models.

Usage::

    rec = Recommender.load("bundle/")
    result = rec.recommend(history=["music-00012"], profile="jazz fan", k=10)
    rec.similar("music-00012", k=5)
    rec.add_items([{"item_id": "new-1", "title": "...", "scenario": "music"}])
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from fedrec.config import Config
from fedrec.device import cores, pick_device, torch_threads
from fedrec.evaluation.rerank import mmr, pool_size
from fedrec.models.backbone import load_backbone
from fedrec.models.encoder import TextEncoder, TokenizedTexts
from fedrec.models.recommender import TwoTowerRecommender
from fedrec.models.state import load_trainable_state
from fedrec.serving import bundle, new_items
from fedrec.serving.explain import Member, explain, pool_members
from fedrec.serving.index import ExactIndex, make_index, top_indices
from fedrec.serving.new_items import ServingError


@dataclass(frozen=True)
class Recommended:
    item_id: str
    title: str
    scenario: str
    score: float
    explanation: str | None = None


@dataclass(frozen=True)
class Recommendation:
    items: list[Recommended]
    cold_start: bool  # nothing usable was known: a profile-free, history-free request
    warnings: list[str] = field(default_factory=list)
    served_by: str = "main"  # or "cold-start": a bundle's second model (fedrec export --cold-run)


class Recommender:
    """A released model over its catalog (see the module docstring)."""

    def __init__(
        self, path: Path, cfg: Config, manifest: dict[str, Any], index: str, threads: int | None
    ) -> None:
        self.path, self.cfg = path, cfg
        backbone, self.tokenizer = load_backbone(cfg.model.backbone)
        self.device = pick_device("cpu", cfg.train.threads if threads is None else threads)
        self._threads = torch.get_num_threads()  # what requests run on
        catalog = bundle.read_catalog(path)
        n_trained = int(manifest["items"])
        trained = catalog.items["scenario"].astype(str).to_numpy()[:n_trained]
        # The scenarios the model was trained with, indexed as training indexed them.
        self._model_scenario = {str(n): c for c, n in enumerate(sorted(set(trained)))}
        self.model = TwoTowerRecommender(
            TextEncoder(backbone, cfg.model),
            n_items=n_trained,
            cfg=cfg.model,
            max_history=cfg.data.max_history,
            has_profiles=bool(manifest["has_profiles"]),
            n_scenarios=len(self._model_scenario),
        )
        self.model.set_scenarios(torch.as_tensor([self._model_scenario[s] for s in trained]))
        self.model.set_warm(
            torch.as_tensor(catalog.items["warm"].to_numpy(dtype=bool)[:n_trained].copy())
        )
        load_trainable_state(self.model, bundle.read_state(path))
        self.model.eval()
        self.items = catalog.items
        self.index: ExactIndex = make_index(
            index, catalog.vectors, catalog.offsets, cfg.model.temperature
        )
        self.row = {str(i): n for n, i in enumerate(self.items["item_id"])}
        self.scenarios = sorted(self.items["scenario"].astype(str).unique().tolist())
        self._columns()
        self.cold: Recommender | None = None  # answers requests knowing <= max_clicks items
        self.max_clicks = -1
        self._lock = threading.Lock()  # add_items against concurrent readers
        self._encoding = threading.Lock()  # one batch encode on every core at a time

    def _columns(self) -> None:
        """Plain per-row lists of the fields a request reads (a DataFrame row costs ~0.1 ms)."""
        self._ids = self.items["item_id"].astype(str).tolist()
        self._titles = self.items["title"].astype(str).tolist()
        self._scenario_list = self.items["scenario"].astype(str).tolist()
        names, codes = np.unique(np.asarray(self._scenario_list, dtype=str), return_inverse=True)
        self._scenario_code = {str(n): c for c, n in enumerate(names)}
        self._scenario_of = codes  # [n] int: one comparison per request, not n strings
        # Each row's scenario as the model indexes it (-1: a scenario added while serving).
        self._model_scenario_of = np.array(
            [self._model_scenario.get(n, -1) for n in self._scenario_list], dtype=np.int64
        )

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(
        cls, path: str | Path, *, index: str = "exact", threads: int | None = None
    ) -> Recommender:
        """From a serving bundle, or a run directory (exported into ``RUN_DIR/serving``).

        ``threads`` caps torch's CPU threads for requests (None: the run's ``threads``,
        0: all cores); :meth:`add_items` encodes on every core whatever it is."""
        path = bundle.bundle_path(path)
        manifest = bundle.read_manifest(path)
        rec = cls(path, bundle.read_config(path), manifest, index, threads)
        route = bundle.cold_route(manifest)
        if route is not None:
            where = bundle.cold_bundle(path)
            cold = cls(
                where, bundle.read_config(where), bundle.read_manifest(where), index, threads
            )
            rec._route(cold, route.max_clicks)
        return rec

    def _route(self, cold: Recommender, max_clicks: int) -> None:
        """Serve requests knowing at most ``max_clicks`` items by ``cold`` (a bundle's
        cold-start model, ``fedrec export --cold-run``). Each model first gets the items
        added to the other alone (an add cut short between the two)."""
        for to, source in ((cold, self), (self, cold)):
            added = source.items[source.items["added"].to_numpy(dtype=bool)]
            missing = added[~added["item_id"].astype(str).isin(to.row)]
            if len(missing):
                table = new_items.checked(missing.to_dict("records"), to.row)
                with to._lock:
                    to._keep(table, to._encoded(table))
        self.cold, self.max_clicks = cold, max_clicks

    # -- the user --------------------------------------------------------------------------
    def _encode(self, texts: Sequence[str]) -> torch.Tensor:
        """[n, H] text vectors through the (LoRA) backbone."""
        tokens = TokenizedTexts.build(list(texts), self.tokenizer, self.cfg.model.max_tokens)
        return tokens.to(self.device).encode_all(self.model.encoder, batch_size=128)

    @torch.no_grad()
    def _user(
        self, rows: list[int], profile: str | None, scenario: str | None = None
    ) -> tuple[np.ndarray, tuple[list[Member], np.ndarray]]:
        """The user vector [d] (for ``scenario``, where the model takes it as an input),
        and its members and constant (for explanations)."""
        model = self.model
        recent = rows[: model.max_history]  # most recent first, as the pool expects
        dim = self.index.vectors.shape[1]
        z = torch.as_tensor(self.index.vectors[recent]).reshape(1, len(recent), dim)
        history = torch.arange(len(recent)).reshape(1, -1)
        # No scenario, or one added while serving: the request is for any scenario.
        request = torch.tensor([self._model_scenario.get(scenario or "", model.n_scenarios)])
        where = torch.as_tensor(self._model_scenario_of[recent]).reshape(1, -1)
        profile_text = profile_vector = None
        if profile and model.uses_profiles:
            profile_text = self._encode([profile]).float()
            if model.profile_slot:
                profile_vector = F.normalize(model.item_head(profile_text), dim=-1)
        user = model.pool_users(z, history, profile_text, profile_vector, request, where)
        labels = [f"“{self._titles[r]}”" for r in recent]
        members = pool_members(
            model,
            z[0],
            labels,
            profile_text,
            profile_vector,
            (request, where),
            self.index.temperature,
        )
        return user[0].numpy(), members

    # -- requests --------------------------------------------------------------------------
    def recommend(
        self,
        history: Iterable[str] = (),
        profile: str | None = None,
        scenario: str | None = None,
        k: int = 10,
        exclude: Iterable[str] = (),
        explain_items: bool = True,
        diversity: float = 0.0,
    ) -> Recommendation:
        """The ``k`` best items for a user known by ``history`` and/or ``profile``.

        History items are never recommended; ``exclude`` removes more; ``scenario``
        restricts the ranking to that scenario's items. Unknown item ids are ignored,
        each with a warning; a request whose history is all unknown and that has no
        profile is refused (there would be nothing to go on but popularity, which is
        what an empty history asks for explicitly). ``diversity`` > 0 re-ranks the best
        candidates by maximal marginal relevance (:mod:`fedrec.evaluation.rerank`)."""
        history, exclude = list(history), list(exclude)
        if self.cold is not None and len(set(history) & self.row.keys()) <= self.max_clicks:
            asked = (history, profile, scenario, k, exclude, explain_items, diversity)
            return replace(self.cold.recommend(*asked), served_by="cold-start")
        if k < 1:
            raise ServingError(f"k={k}: ask for at least one item (k >= 1).")
        if not 0.0 <= diversity <= 1.0:
            raise ServingError(f"diversity={diversity}: use a weight in [0, 1] (0 = by score).")
        if scenario is not None and scenario not in self.scenarios:
            raise ServingError(
                f"scenario {scenario!r} is unknown: use one of {self.scenarios}, or leave it out."
            )
        warnings = [f"unknown item id {i!r} ignored" for i in history if i not in self.row]
        rows = list(dict.fromkeys(self.row[i] for i in history if i in self.row))  # once each
        profile = profile.strip() if profile else None
        if profile and not self.model.uses_profiles:
            warnings.append("profile ignored: this model was trained without profiles")
            profile = None
        if history and not rows and not profile:
            raise ServingError(
                "none of the history's item ids is in the catalog (see GET /items to find "
                "them): send known ids, a profile, or an empty history for a cold start."
            )
        with self._lock:
            if torch.get_num_threads() != self._threads:  # a thread started during an encode
                torch.set_num_threads(self._threads)
            user, members = self._user(rows, profile, scenario)
            allowed = self._allowed(rows, exclude, scenario, warnings)
            top = self._top(user, k, allowed, diversity)
            items = [
                self._item(int(r), user, members, scenario, explain_items) for r in top.tolist()
            ]
        return Recommendation(items, cold_start=not rows and not profile, warnings=warnings)

    def _top(self, user: np.ndarray, k: int, allowed: np.ndarray, diversity: float) -> np.ndarray:
        """The ``k`` best rows, or with ``diversity`` the MMR order of the best pool."""
        if diversity <= 0:
            return self.index.top(user, k, allowed)
        pool = self.index.top(user, pool_size(k, len(self.index)), allowed)
        if len(pool) == 0:
            return pool
        scores = self.index.vectors[pool] @ user / self.index.temperature
        picked = mmr(scores + self.index.offsets[pool], self.index.vectors[pool], k, diversity)
        return pool[picked[0][picked[0] >= 0]]

    def _allowed(
        self, rows: list[int], exclude: list[str], scenario: str | None, warnings: list[str]
    ) -> np.ndarray:
        allowed = np.ones(len(self.index), dtype=bool)
        allowed[rows] = False
        for item in exclude:
            if item in self.row:
                allowed[self.row[item]] = False
            else:
                warnings.append(f"unknown item id {item!r} in exclude ignored")
        if scenario is not None:
            allowed &= self._scenario_of == self._scenario_code[scenario]
        return allowed

    def _item(
        self,
        row: int,
        user: np.ndarray,
        members: tuple[list[Member], np.ndarray],
        scenario: str | None,
        why: bool,
    ) -> Recommended:
        vector = self.index.vectors[row]
        score = float(vector @ user / self.index.temperature + self.index.offsets[row])
        text = None
        if why:
            member_list, constant = members
            offset = float(self.index.offsets[row])
            text = explain(member_list, vector, float(constant @ vector), offset, scenario)
        return Recommended(self._ids[row], self._titles[row], self._scenario_list[row], score, text)

    def similar(self, item_id: str, k: int = 10) -> list[Recommended]:
        """The items whose vectors are closest to ``item_id``'s (the item itself left out)."""
        if item_id not in self.row:
            raise ServingError(f"item {item_id!r} is not in the catalog.")
        if k < 1:
            raise ServingError(f"k={k}: ask for at least one item (k >= 1).")
        row = self.row[item_id]
        with self._lock:
            cosine = self.index.vectors @ self.index.vectors[row]
            allowed = np.ones(len(cosine), dtype=bool)
            allowed[row] = False
            top = top_indices(cosine, k, allowed)
            return [
                Recommended(self._ids[r], self._titles[r], self._scenario_list[r], float(cosine[r]))
                for r in top.tolist()
            ]

    def item(self, item_id: str) -> dict[str, Any]:
        if item_id not in self.row:
            raise ServingError(f"item {item_id!r} is not in the catalog.")
        row = self.items.iloc[self.row[item_id]]
        return {
            "item_id": str(row.item_id),
            "title": str(row.title),
            "attributes": str(row.attributes),
            "scenario": str(row.scenario),
            "added": bool(row.added),
        }

    def search(self, query: str, scenario: str | None = None, limit: int = 20) -> list[dict]:
        """Items whose title holds ``query`` (case-insensitive), for the page's search box."""
        items = self.items  # one table throughout: add_items may swap it meanwhile
        titles = items["title"].astype(str)
        hit = titles.str.contains(query, case=False, regex=False) if query else titles.notna()
        if scenario is not None:
            hit &= items["scenario"].astype(str) == scenario
        return [self.item(str(i)) for i in items.loc[hit, "item_id"].head(limit)]

    # -- new items -------------------------------------------------------------------------
    def add_items(self, rows: Sequence[Mapping[str, Any]]) -> int:
        """Add cold items from their text alone, rankable at once and kept in the bundle
        (``added_items.parquet``, one atomic write) so that a restart keeps them. With a
        cold-start model, each model encodes them with its own item tower and the
        cold-start model keeps them first: every item the main model knows, it knows."""
        table = new_items.checked(rows, self.row)
        if table.empty:
            return 0
        if self.cold is not None:
            self._same_as_left(table)
        models = [m for m in (self.cold, self) if m is not None]
        # An id the cold-start model holds alone is left from an add cut short: completed.
        needed = [table if m is self else table[~table["item_id"].isin(m.row)] for m in models]
        vectors = [m._encoded(t) for m, t in zip(models, needed, strict=True)]
        with self._lock, self.cold._lock if self.cold is not None else nullcontext():
            for m, t, v in zip(models, needed, vectors, strict=True):
                m._keep(t, v)
        return len(table)

    def _same_as_left(self, table: pd.DataFrame) -> None:
        """Refuse to complete an add cut short (an id the cold-start model holds alone)
        with another item under the same id."""
        assert self.cold is not None
        for row in table[table["item_id"].isin(self.cold.row)].itertuples():
            kept = self.cold.item(str(row.item_id))
            if (kept["title"], kept["attributes"], kept["scenario"]) != (
                row.title,
                row.attributes,
                row.scenario,
            ):
                raise ServingError(
                    f"item_id {row.item_id!r} is held by the cold-start model alone (an add cut "
                    f"short) as {kept['title']!r} in {kept['scenario']!r}: send that item again "
                    "to complete the add, or give this one a new id."
                )

    def _encoded(self, table: pd.DataFrame) -> np.ndarray:
        """[n, d] unit vectors of ``table``'s items from this model's item tower."""
        texts = [
            t if not a else f"{t}. {a}" for t, a in zip(table.title, table.attributes, strict=True)
        ]
        if not texts:
            return np.zeros((0, self.index.vectors.shape[1]), dtype=np.float32)
        with self._encoding, torch.no_grad(), torch_threads(cores(), self._threads):
            text = self._encode(texts).float()
            return F.normalize(self.model.item_head(text), dim=-1).numpy()

    def _keep(self, table: pd.DataFrame, vectors: np.ndarray) -> None:
        """Make ``table``'s items rankable and write them to the bundle (the caller holds
        this model's lock); nothing changes where the write fails."""
        if table.empty:
            return
        new_items.checked(table.to_dict("records"), self.row)  # an add that ran meanwhile
        added = self.items[self.items["added"]]
        old_vectors = self.index.vectors[self.items["added"].to_numpy()]
        bundle.write_added(
            self.path,
            pd.concat([added, table], ignore_index=True)[list(table.columns)],
            np.concatenate([old_vectors, vectors]),
        )
        start = len(self.items)
        self.items = pd.concat([self.items, table], ignore_index=True)
        self.index.add(vectors)
        for n, item_id in enumerate(table["item_id"], start=start):
            self.row[str(item_id)] = n
        self._columns()
        self.scenarios = sorted(set(self.scenarios) | set(table["scenario"].astype(str)))

    def model_card(self) -> dict[str, Any]:
        import json

        return json.loads((self.path / bundle.CARD).read_text(encoding="utf-8"))

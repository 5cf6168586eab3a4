"""A recommender bound to its catalog: the object training and serving share.

:class:`CatalogModel` holds the :class:`TwoTowerRecommender`, the public catalog
texts tokenized once (with frozen lower layers cached) and the user profile
texts, plus the no-gradient text vectors refreshed from the current weights
(``refresh``). It turns item-index histories into user vectors and scores every
item for a batch of users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fedrec.config import DataConfig, ModelConfig
from fedrec.data.split import Split
from fedrec.models.backbone import load_backbone
from fedrec.models.encoder import TextEncoder, TokenizedTexts
from fedrec.models.recommender import TwoTowerRecommender


class CatalogModel:
    """Model + catalog + profiles, on one device."""

    def __init__(
        self,
        model: TwoTowerRecommender,
        items: TokenizedTexts,
        profiles: TokenizedTexts | None,
        profile_rows: np.ndarray,
        device: torch.device,
    ) -> None:
        self.model = model.to(device)
        # [n_items] each item's scenario index: the catalog is fixed, so one host copy
        # serves every training batch (no device-to-host copy per step).
        self.item_scenario = model.item_scenario.cpu().numpy()
        self.items = items.to(device)
        self.profiles = None if profiles is None else profiles.to(device)
        # profile_rows[user] = row in ``profiles`` or -1 for users without one.
        self.profile_rows = torch.as_tensor(profile_rows, dtype=torch.long, device=device)
        self.device = device
        hidden = model.encoder.hidden_size
        self.item_text = torch.zeros(len(items), hidden, device=device)
        n_profiles = 0 if profiles is None else len(profiles)
        # Profile vectors are encoded on demand (a client needs only its own users'), and
        # kept until the text tower's weights change.
        self._profile_text = torch.zeros(n_profiles, hidden, device=device)
        self._profile_ready = torch.zeros(n_profiles, dtype=torch.bool, device=device)
        self._stale = True
        self._text_weights: dict[str, torch.Tensor] | None = None

    def mark_stale(self) -> None:
        """Weights may have changed: the text vectors are checked before their next use."""
        self._stale = True

    def ensure_fresh(self, progress: bool = False, users: np.ndarray | None = None) -> None:
        """Recompute the text vectors if the text tower's weights changed since they were
        computed (loading the same global state again costs nothing); with ``users``, also
        encode those users' profiles now, with these weights."""
        if self._stale:
            if not self._same_text_weights():
                self.refresh(progress=progress)
            self._stale = False
        if users is not None and self.profiles is not None:
            rows = self.profile_rows[torch.as_tensor(np.unique(users), device=self.device)]
            self._encode_profiles(rows[rows >= 0])

    def _text_tower(self) -> dict[str, torch.Tensor]:
        return {n: p for n, p in self.model.encoder.named_parameters() if p.requires_grad}

    def _same_text_weights(self) -> bool:
        seen = self._text_weights
        now = self._text_tower()
        return (
            seen is not None
            and seen.keys() == now.keys()
            and all(torch.equal(seen[n], p) for n, p in now.items())
        )

    @property
    def n_items(self) -> int:
        return len(self.items)

    @torch.no_grad()
    def refresh(self, progress: bool = False) -> None:
        """Recompute the catalog's text vectors with the current weights (profiles are
        encoded again when next asked for)."""
        was_training = self.model.training
        self.model.eval()
        self.item_text = self.items.encode_all(
            self.model.encoder, progress=progress, desc="encoding catalog"
        )
        self._profile_ready.zero_()
        self.model.train(was_training)
        self._stale = False
        self._text_weights = {n: p.detach().clone() for n, p in self._text_tower().items()}

    @torch.no_grad()
    def _encode_profiles(self, rows: torch.Tensor, batch_size: int = 256) -> None:
        """Encode the profile ``rows`` not encoded since the last refresh."""
        assert self.profiles is not None
        need = torch.unique(rows[~self._profile_ready[rows]])
        if need.numel() == 0:
            return
        was_training = self.model.training
        self.model.eval()
        for start in range(0, need.numel(), batch_size):
            part = need[start : start + batch_size]
            self._profile_text[part] = self.profiles.encode(self.model.encoder, part)
        if not self._stale:  # kept only while the weights are those of the last refresh
            self._profile_ready[need] = True
        self.model.train(was_training)

    @property
    def profile_text(self) -> torch.Tensor:
        """[n_profiles, H] every profile's text vector (encodes those not encoded yet)."""
        self.ensure_fresh()
        if self.profiles is not None:
            self._encode_profiles(torch.arange(len(self.profiles), device=self.device))
        return self._profile_text

    def profile_vectors(self, users: torch.Tensor) -> torch.Tensor | None:
        """[B] user indices -> [B, H] profile text vectors (zeros where none)."""
        if self.profiles is None or not self.model.uses_profiles:
            return None
        rows = self.profile_rows[users]
        present = rows >= 0
        self._encode_profiles(rows[present])
        out = self._profile_text[rows.clamp(min=0)]
        return out * present.unsqueeze(-1).to(out.dtype)

    def user_vectors(
        self,
        users: torch.Tensor,
        history: torch.Tensor,
        scenario: torch.Tensor | None = None,
        *,
        cold_tower: bool | None = None,
    ) -> torch.Tensor:
        """[B] users, [B, T] histories (most recent first, -1 pad) -> [B, d] (for the
        requests' ``scenario`` [B], where the model takes one; ``cold_tower``: see
        :meth:`TwoTowerRecommender.user_vectors`)."""
        hist_text = self.history_text(history)
        profile = self.profile_vectors(users)
        return self.model.user_vectors(hist_text, history, profile, scenario, cold_tower=cold_tower)

    def history_text(self, history: torch.Tensor) -> torch.Tensor:
        """[B, T] histories -> [B, T, H] cached text vectors (padding reads item 0)."""
        return self.item_text[history.clamp(min=0)]

    @torch.no_grad()
    def score_all(
        self,
        users: np.ndarray,
        histories: Sequence[np.ndarray],
        *,
        profiles: bool = True,
        scenario: int | None = None,
    ) -> np.ndarray:
        """Scores [B, n_items] for users with the given histories (time order, oldest
        first); ``profiles=False`` scores them as if they had no profile; ``scenario``
        is the scenario the ranking is for (read by a model with ``scenario-input``)."""
        self.ensure_fresh()
        self.model.eval()
        hist = pad_histories(histories, self.model.max_history, self.device)
        request = None if scenario is None else torch.tensor(scenario, device=self.device)
        if profiles:
            u = self.user_vectors(torch.as_tensor(users, device=self.device), hist, request)
        else:
            u = self.model.user_vectors(self.history_text(hist), hist, None, request)
        all_items = torch.arange(self.n_items, device=self.device)
        vecs = self.model.item_vectors(self.item_text, all_items)
        return self.model.scores(u, vecs, all_items).float().cpu().numpy()


def pad_histories(
    histories: Sequence[np.ndarray], max_history: int, device: torch.device
) -> torch.Tensor:
    """Time-ordered histories -> [B, T] most recent first, -1 padding."""
    out = np.full((len(histories), max_history), -1, dtype=np.int64)
    for row, seq in enumerate(histories):
        recent = np.asarray(seq[-max_history:])[::-1]
        out[row, : len(recent)] = recent
    return torch.as_tensor(out, device=device)


def build_catalog_model(
    split: Split,
    model_cfg: ModelConfig,
    data_cfg: DataConfig,
    device: torch.device,
    *,
    backbone: tuple[torch.nn.Module, object] | None = None,
    progress: bool = False,
    has_profiles: bool | None = None,
) -> CatalogModel:
    """Load the backbone (or reuse ``backbone=(model, tokenizer)``) and bind it to ``split``.

    ``has_profiles``: whether the dataset has profile texts (which shapes the model);
    default: whether any user of ``split`` has one (a node's split holds only its own
    users, so it passes the dataset's answer)."""
    bert, tokenizer = backbone if backbone is not None else load_backbone(model_cfg.backbone)
    bert = bert.to(device)
    encoder = TextEncoder(bert, model_cfg)
    if has_profiles is None:
        has_profiles = any(split.profiles)
    model = TwoTowerRecommender(
        encoder,
        n_items=split.n_items,
        cfg=model_cfg,
        max_history=data_cfg.max_history,
        has_profiles=has_profiles,
        n_scenarios=len(split.scenarios),
    )
    # Which items are new arrivals is catalog knowledge; their ID terms stay off.
    model.set_warm(torch.as_tensor(~split.cold_items))
    model.set_scenarios(torch.tensor(split.item_scenario))  # a copy: the array may be read-only
    items = TokenizedTexts.build(split.item_text, tokenizer, model_cfg.max_tokens)  # type: ignore[arg-type]
    items = items.to(device)
    items.cache_lower(encoder, progress=progress, public=True)  # the catalog is public
    profiles = None
    rows = np.full(split.n_users, -1, dtype=np.int64)
    with_profile = [u for u, text in enumerate(split.profiles) if text]
    if has_profiles and model.uses_profiles and with_profile:
        rows[with_profile] = np.arange(len(with_profile))
        profiles = TokenizedTexts.build(
            [split.profiles[u] for u in with_profile],
            tokenizer,
            model_cfg.max_tokens,  # type: ignore[arg-type]
        ).to(device)
        profiles.cache_lower(encoder, progress=progress)
    cm = CatalogModel(model, items, profiles, rows, device)
    cm.refresh(progress=progress)
    return cm

"""The two-tower text recommender and its trainable state.

Item tower: text vector of the item (LoRA backbone, mean-pooled) -> ``item_head``;
for warm items (those with training interactions) a learned item-ID embedding is
added and a learned bias joins the score (``fusion``). Cold items are served from
text alone: their ID terms are masked to zero.

User tower: a recency-weighted pool of the user's history item vectors ->
``user_head``. A profile text, where there is one, is embedded by the item head
(as an item's text would be) and joins the pool as one more member with a
learned weight of its own (``profile-head = item``: no parameters of its own, so
under DP no extra noised coordinates; a user with only a profile is served from
it alone), or goes through a separate ``profile_head`` added to the user vector
(``profile-head = own``). With ``cold-head``, a user seen by 1 to
:data:`COLD_CLICKS` clicks is pooled with weights and a head of their own
(``cold_position``, ``cold_head``), trained beside the model on a view of each
example's owner by their first clicks that reaches no part of the item tower
(with ``scenario-input`` or ``profile-head = own`` the parts both towers share
learn from it too); in training every other sight of a user takes the main
tower. Pooled history was chosen over encoding the history as one text: it
reuses the item tower, costs no extra backbone pass per user, and degrades
gracefully to the profile alone for a user with no clicks (see
docs/DESIGN_NOTES.md).

score(u, i) = <u, v_i> / temperature + b_i, with u and v_i unit vectors.

Only the trainable state (LoRA + heads + ID terms) ever leaves a client
(:mod:`fedrec.models.state`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from fedrec.config import ModelConfig
from fedrec.config.learning import COLD_CLICKS
from fedrec.models.encoder import TextEncoder

__all__ = ["COLD_CLICKS", "TwoTowerRecommender"]


class TwoTowerRecommender(nn.Module):
    """Text two-tower recommender over a catalog of ``n_items`` items."""

    def __init__(
        self,
        encoder: TextEncoder,
        *,
        n_items: int,
        cfg: ModelConfig,
        max_history: int,
        has_profiles: bool,
        n_scenarios: int = 1,
    ) -> None:
        super().__init__()
        hidden, dim = encoder.hidden_size, cfg.embed_dim
        self.encoder = encoder
        self.cfg = cfg
        self.item_head = nn.Linear(hidden, dim)
        self.user_head = nn.Linear(dim, dim)
        nn.init.eye_(self.user_head.weight)
        nn.init.zeros_(self.user_head.bias)
        profiles = cfg.use_profile and has_profiles
        # Profile text through the item head, pooled as one more member (slot max_history).
        self.profile_slot = profiles and cfg.profile_head == "item"
        # One logit per history position (0 = most recent): learned recency weights
        # (and, last, the profile's weight in the pool).
        self.position = nn.Embedding(max_history + int(self.profile_slot), 1)
        nn.init.zeros_(self.position.weight)
        self.profile_head = (
            nn.Linear(hidden, dim) if (profiles and cfg.profile_head == "own") else None
        )
        # Users seen by 1 to COLD_CLICKS clicks (``cold-head``): pool weights for
        # positions 0..COLD_CLICKS - 1 and the profile (last), and a head of their own.
        self.cold_head: nn.Linear | None = None
        self.cold_position: nn.Embedding | None = None
        if cfg.cold_head:
            self.cold_head = nn.Linear(dim, dim)
            nn.init.eye_(self.cold_head.weight)
            nn.init.zeros_(self.cold_head.bias)
            self.cold_position = nn.Embedding(COLD_CLICKS + 1, 1)
            nn.init.zeros_(self.cold_position.weight)
        self.item_embedding = nn.Embedding(n_items, dim) if cfg.fusion == "id" else None
        if self.item_embedding is not None:
            nn.init.zeros_(self.item_embedding.weight)
        self.item_bias = nn.Embedding(n_items, 1) if cfg.fusion in ("id", "bias") else None
        if self.item_bias is not None:
            nn.init.zeros_(self.item_bias.weight)
        # Scenario as an input (``scenario-input``): a request for scenario s adds
        # ``scenario_embedding[s]`` to the user vector and weighs history items of s by
        # ``scenario_pool[1]`` (others ``[0]``) in the pool; a request for no scenario
        # uses the last row of each (index ``n_scenarios``, and 2).
        self.n_scenarios = n_scenarios
        self.scenario_embedding: nn.Embedding | None = None
        self.scenario_pool: nn.Embedding | None = None
        if cfg.scenario_input:
            self.scenario_embedding = nn.Embedding(n_scenarios + 1, dim)
            self.scenario_pool = nn.Embedding(3, 1)
            nn.init.zeros_(self.scenario_embedding.weight)
            nn.init.zeros_(self.scenario_pool.weight)
        self.register_buffer("warm", torch.zeros(n_items))
        # Each item's scenario (public catalog knowledge; set by the catalog binding).
        self.register_buffer("item_scenario", torch.zeros(n_items, dtype=torch.long))
        self.max_history = max_history

    def set_warm(self, warm: torch.Tensor) -> None:
        """Mark which items have training interactions (their ID terms are used)."""
        self.warm.copy_(warm.to(self.warm.dtype))

    def set_scenarios(self, item_scenario: torch.Tensor) -> None:
        """Record each item's scenario index (from the public catalog)."""
        self.item_scenario.copy_(item_scenario.to(self.item_scenario.dtype))

    @torch.no_grad()
    def set_popularity_prior(self, histogram: torch.Tensor) -> None:
        """Start the item bias at ``log(1 + count)`` of a popularity histogram ([n_items],
        noised under DP; negative noisy counts read as 0). Cold items keep no bias."""
        if self.item_bias is None:
            return
        counts = histogram.to(self.item_bias.weight).clamp(min=0.0)
        prior = self.cfg.popularity_prior_weight * torch.log1p(counts)
        self.item_bias.weight.copy_(prior.unsqueeze(-1) * self.warm.unsqueeze(-1))

    @property
    def uses_profiles(self) -> bool:
        """Whether user vectors read profile texts."""
        return self.profile_slot or self.profile_head is not None

    # -- item tower -------------------------------------------------------------------
    def item_vectors(
        self, text: torch.Tensor, items: torch.Tensor, ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """[..., H] text vectors and [...] item indices -> [..., d] unit item vectors.

        ``ids`` ([...] bool) switches the ID terms off where False (a text that is
        not a catalog item, such as a profile laid out beside items)."""
        z = self.item_head(text)
        if self.item_embedding is not None:
            gate = self.warm[items] if ids is None else self.warm[items] * ids.to(z.dtype)
            z = z + gate.unsqueeze(-1) * self.item_embedding(items)
        return F.normalize(z, dim=-1)

    def item_offsets(self, items: torch.Tensor) -> torch.Tensor:
        """[...] item indices -> [...] score offsets (learned bias, warm items only)."""
        if self.item_bias is None:
            return torch.zeros(items.shape, device=items.device)
        return self.warm[items] * self.item_bias(items).squeeze(-1)

    # -- user tower -------------------------------------------------------------------
    def user_vectors(
        self,
        history_text: torch.Tensor,
        history: torch.Tensor,
        profile_text: torch.Tensor | None = None,
        scenario: torch.Tensor | None = None,
        *,
        cold_tower: bool | None = None,
    ) -> torch.Tensor:
        """User vectors [B, d], each pooled by the tower its history's length picks
        (``cold_tower`` None), or all by the main tower (False) or by the cold tower
        (True; then no gradient reaches the item tower through the history's and the
        profile's vectors: training the cold tower leaves the rest alone).

        history_text: [B, T, H] text vectors of history items (most recent first)
        history:      [B, T] item indices, -1 where padding
        profile_text: [B, H] profile text vectors, all-zero rows where none
        scenario:     [B] the scenario each user vector is for (``n_scenarios`` or None:
                      any), read with ``scenario-input``
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not cold_tower):
            z = self.item_vectors(history_text, history.clamp(min=0))  # [B, T, d]
            profile = None
            if self.profile_slot and profile_text is not None:
                profile = F.normalize(self.item_head(profile_text), dim=-1)
        return self.pool_users(z, history, profile_text, profile, scenario, cold=cold_tower)

    def pool_users(
        self,
        history_vectors: torch.Tensor,
        history: torch.Tensor,
        profile_text: torch.Tensor | None = None,
        profile_vectors: torch.Tensor | None = None,
        scenario: torch.Tensor | None = None,
        history_scenario: torch.Tensor | None = None,
        cold: bool | None = None,
    ) -> torch.Tensor:
        """User vectors [B, d] from the history's item vectors [B, T, d] (see
        :meth:`user_vectors`) and, with ``profile-head = item``, the profiles' vectors
        [B, d] from the item head; lets a caller compute all of them in one call.
        ``history_scenario`` [B, T]: each history item's scenario, where ``history``
        does not index the training catalog (serving); by default read from it.
        ``cold``: which tower pools every row (with ``cold-head``; None: each row's
        by its length, :meth:`is_cold`)."""
        z = history_vectors
        valid = history >= 0
        positions = torch.arange(history.shape[1], device=history.device).expand_as(history)
        has = None if profile_text is None else profile_text.abs().sum(-1) > 0  # [B]
        if self.profile_slot and profile_vectors is not None and has is not None:
            z = torch.cat([z, profile_vectors.unsqueeze(1)], dim=1)
            valid = torch.cat([valid, has.unsqueeze(1)], dim=1)
            slot = history.new_full((history.shape[0], 1), self.max_history)  # T may be 0
            positions = torch.cat([positions, slot], dim=1)
        request = self.request_scenarios(scenario, history.shape[0], history.device)

        def pooled(cold: bool) -> torch.Tensor:
            logits = self.pool_logits(positions, history, request, history_scenario, cold)
            logits = logits.masked_fill(~valid, float("-inf"))  # [B, T (+1)]
            weights = torch.softmax(logits, dim=-1).nan_to_num(0.0)  # rows with nothing -> 0
            return self.pool_head(cold)((weights.unsqueeze(-1) * z).sum(1))

        if self.cold_head is None or cold is False:
            u = pooled(False)
        elif cold:
            u = pooled(True)
        else:  # every row through both towers, each keeping the one its length picks
            u = torch.where(self.is_cold(history).unsqueeze(-1), pooled(True), pooled(False))
        term = self.scenario_term(request)
        if term is not None:
            u = u + term
        if self.profile_head is not None and has is not None:
            u = u + has.unsqueeze(-1).to(u.dtype) * self.profile_head(profile_text)
        return F.normalize(u, dim=-1)

    def is_cold(self, history: torch.Tensor) -> torch.Tensor:
        """[B] whether each history [B, T] is pooled by the cold tower (``cold-head``
        and 1 to :data:`COLD_CLICKS` clicks). A user with no clicks stays with the main
        tower: the cold view trains it on exactly that sight (the profile alone),
        the item tower learning with it."""
        clicks = (history >= 0).sum(-1)
        return (clicks >= 1) & (clicks <= COLD_CLICKS) & (self.cold_head is not None)

    def pool_head(self, cold: bool) -> nn.Linear:
        """The head a pooled history goes through (the cold tower's with ``cold``)."""
        return self.cold_head if cold and self.cold_head is not None else self.user_head

    def request_scenarios(
        self, scenario: torch.Tensor | None, batch: int, device: torch.device
    ) -> torch.Tensor:
        """[B] scenario index of each request (``n_scenarios`` = any scenario)."""
        if scenario is None:
            return torch.full((batch,), self.n_scenarios, dtype=torch.long, device=device)
        return scenario.to(device=device, dtype=torch.long).expand(batch)

    def pool_logits(
        self,
        positions: torch.Tensor,
        history: torch.Tensor,
        request: torch.Tensor,
        history_scenario: torch.Tensor | None = None,
        cold: bool = False,
    ) -> torch.Tensor:
        """[B, T (+1)] pool logits: each member's position weight (the cold tower's with
        ``cold``), plus for a history item (the first T) its ``scenario_pool`` weight:
        row 1 in the requested scenario, 0 in another, 2 when the request names none."""
        t = history.shape[1]
        if cold and self.cold_position is not None:
            # A history item's slot is its rank among the valid ones (0 = most recent;
            # past the cold tower's last, its last); the profile (after the T history
            # columns) reads slot COLD_CLICKS.
            ranks = ((history >= 0).cumsum(-1) - 1).clamp(0, COLD_CLICKS - 1)
            profile = torch.full_like(positions[:, t:], COLD_CLICKS)
            logits = self.cold_position(torch.cat([ranks, profile], dim=1)).squeeze(-1)
        else:
            logits = self.position(positions).squeeze(-1)
        if self.scenario_pool is None:
            return logits
        if history_scenario is None:
            history_scenario = self.item_scenario[history.clamp(min=0)]
        kinds = (history_scenario == request.unsqueeze(-1)).long()
        kinds = kinds.masked_fill((request == self.n_scenarios).unsqueeze(-1), 2)
        pad = logits.new_zeros(logits.shape[0], logits.shape[1] - t)
        return logits + torch.cat([self.scenario_pool(kinds).squeeze(-1), pad], dim=1)

    def outside_request(self, request: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """[B, P] whether each of ``items`` ([P] shared or [B, P]) lies outside its
        example's requested scenario (never for a request for any scenario): the
        negatives such an example is not ranked against."""
        rows = items.unsqueeze(0) if items.dim() == 1 else items
        named = (request < self.n_scenarios).unsqueeze(1)
        return named & (self.item_scenario[rows] != request.unsqueeze(1))

    def scenario_term(self, request: torch.Tensor) -> torch.Tensor | None:
        """[B, d] what the requested scenario adds to the user vector before it is
        normalized (None without ``scenario-input``)."""
        return None if self.scenario_embedding is None else self.scenario_embedding(request)

    def scores(
        self, users: torch.Tensor, item_vecs: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        """[B, d] users x [M, d] items -> [B, M] scores."""
        return users @ item_vecs.T / self.cfg.temperature + self.item_offsets(items)

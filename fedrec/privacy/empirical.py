"""Empirical privacy auditing in one training run (Steinke, Nasr and Jagielski, 2023).

Each of ``m`` canaries is included in training independently with probability
½. After one run, the auditor scores every canary, guesses "in" for the ``r/2``
highest scores and "out" for the ``r/2`` lowest, and counts the correct
guesses ``v``. Under (ε, δ)-DP, ``P[V ≥ v] ≤ P[Binomial(r, e^ε/(1+e^ε)) ≥ v] +
2 m δ α`` (their Theorem 3.2 with its δ term), so the largest ε whose p-value
stays below β is a lower bound on the ε actually achieved, with confidence
1 - β. Several guess counts are tried, with a Bonferroni correction.

Canaries here are *Dirac* canaries, the strongest white-box kind: each is one
coordinate of the trainable state.

- DP-SGD (local or centralized DP-SGD): a canary is a training record whose
  gradient is that coordinate's unit vector times a large number; it goes
  through Poisson sampling, Opacus's per-sample clipping and noise like any
  other record (:class:`GradientCanaries`).
- Central DP (DP-FedAvg): a canary is a client whose update is that unit
  vector times a large number, through Flower's clipping and noise.

The score of a canary is how far its coordinate moved the way the canary
pushes it. The method has a ceiling: with ``m`` canaries, even all-correct
guesses certify at most :func:`ceiling` (about 4.6 for 1,000 canaries, 5.7 for
10,000).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
from scipy import stats

BETA = 0.05
CANARY_SCALE = 1e3  # times the clipping norm: every canary is clipped to exactly C


def audit_delta(m: int, delta: float, beta: float = BETA) -> float:
    """The δ the audit tests: the run's, or less where the method's ``2 m δ`` term would
    swamp the test (the mechanism is (ε(δ'), δ')-DP for every δ', so this is sound)."""
    return min(delta, beta / (1000.0 * m))


def p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """P-value of ``v`` correct guesses out of ``r`` under (ε, δ)-DP, ``m`` canaries."""
    if v <= 0:
        return 1.0
    q = 1.0 / (1.0 + math.exp(-eps))
    tail = float(stats.binom.sf(v - 1, r, q))
    if delta <= 0:
        return min(tail, 1.0)
    below = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q)  # P[B = v-1], ..., P[B = 0]
    alpha = float(np.max(np.cumsum(below) / np.arange(1, v + 1)))
    return min(tail + alpha * delta * 2 * m, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, delta: float, beta: float = BETA) -> float:
    """The largest ε rejected at level ``beta`` by ``v`` of ``r`` correct guesses."""
    if p_value(m, r, v, 0.0, delta) >= beta:
        return 0.0
    lo, hi = 0.0, 1.0
    while p_value(m, r, v, hi, delta) < beta:
        lo, hi = hi, hi * 2
        if hi > 1e3:
            return math.inf
    for _ in range(40):
        mid = (lo + hi) / 2
        if p_value(m, r, v, mid, delta) < beta:
            lo = mid
        else:
            hi = mid
    return lo


def ceiling(m: int, delta: float, beta: float = BETA) -> float:
    """The most an audit with ``m`` canaries can certify (every guess right)."""
    return max(
        epsilon_lower_bound(m, r, r, delta, beta / len(_guess_counts(m))) for r in _guess_counts(m)
    )


def _guess_counts(m: int) -> list[int]:
    counts = {int(m * f) // 2 * 2 for f in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5)}
    return sorted(c for c in counts if c >= 2)


@dataclass(frozen=True)
class EmpiricalResult:
    canaries: int
    included: int
    guesses: int
    correct: int
    epsilon_lower: float
    ceiling: float
    epsilon_theory: float
    delta: float
    confidence: float
    mechanism: str

    @property
    def broken(self) -> bool:
        """A lower bound above the theoretical ε: the implementation leaks more than it says."""
        return self.epsilon_lower > self.epsilon_theory * (1 + 1e-6) + 1e-9

    @property
    def verdict(self) -> str:
        """``broken``; ``inconclusive`` when even all-correct guesses could not pass the
        theoretical ε (the audit could not catch a violation); ``consistent``; or
        ``no-guarantee`` for a run without DP (the bound says what it leaks)."""
        if self.broken:
            return "broken"
        if math.isinf(self.epsilon_theory):
            return "no-guarantee"
        if self.epsilon_theory >= self.ceiling:
            return "inconclusive"
        return "consistent"

    def sentence(self) -> str:
        text = (
            f"Empirical audit ({self.mechanism}, {self.canaries} canaries, one run): ε ≥ "
            f"{self.epsilon_lower:.3g} with {self.confidence:.0%} confidence ({self.correct} of "
            f"{self.guesses} guesses right; the method certifies at most {self.ceiling:.3g} "
            f"here), against a theoretical ε = {self.epsilon_theory:.3g} at δ = {self.delta:.1e}."
        )
        if self.verdict == "inconclusive":
            text += (
                f" INCONCLUSIVE: the theoretical ε is above the most {self.canaries} canaries "
                "can certify, so this audit could not have caught a leak. Use more canaries "
                "or audit the mechanism at a smaller ε."
            )
        return text

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["broken"] = self.broken
        out["verdict"] = self.verdict
        out["sentence"] = self.sentence()
        return out


def audit_scores(
    scores: np.ndarray,
    included: np.ndarray,
    *,
    delta: float,
    epsilon_theory: float,
    mechanism: str,
    beta: float = BETA,
) -> EmpiricalResult:
    """Best lower bound over the guess counts (Bonferroni-corrected) from canary scores."""
    m = len(scores)
    order = np.argsort(-np.asarray(scores), kind="stable")
    truth = np.asarray(included, dtype=bool)[order]
    counts = _guess_counts(m)
    level = beta / len(counts)
    best = (-1.0, 0.0, counts[0], 0)
    for r in counts:
        half = r // 2
        correct = int(truth[:half].sum() + (~truth[m - half :]).sum())
        eps = epsilon_lower_bound(m, r, correct, delta, level)
        if (eps, correct / r) > best[:2]:
            best = (eps, correct / r, r, correct)
    best = (best[0], best[2], best[3])
    return EmpiricalResult(
        canaries=m,
        included=int(truth.sum()),
        guesses=best[1],
        correct=best[2],
        epsilon_lower=best[0],
        ceiling=ceiling(m, delta, beta),
        epsilon_theory=epsilon_theory,
        delta=delta,
        confidence=1 - beta,
        mechanism=mechanism,
    )


class GradientCanaries:
    """Dirac gradient canaries for DP-SGD.

    The canaries live in a parameter of their own (one coordinate each) that
    DP-SGD optimises together with the model's trainable parameters: per-sample
    gradients are clipped jointly over all of them and noised together. Real
    records have zero gradient there; canary ``j``'s gradient is
    ``CANARY_SCALE · C`` on coordinate ``j`` and zero elsewhere, so clipping
    leaves exactly ``C``. Included canaries are Poisson-sampled at the training
    rate each step and appended to the batch's per-sample gradients before
    Opacus clips and noises them.
    """

    def __init__(self, count: int, clip: float, rng: np.random.Generator, device: torch.device):
        # A layer Opacus knows (never called in forward): its weight holds the canaries.
        self.layer = torch.nn.Linear(count, 1, bias=False, device=device)
        torch.nn.init.zeros_(self.layer.weight)
        self.param = self.layer.weight
        self.included = rng.random(count) < 0.5
        self.value = CANARY_SCALE * clip
        self.rng = rng
        self.tiebreak = rng.random(count) * 1e-12

    def sample(self, rate: float) -> np.ndarray:
        """The included canaries in this step's Poisson sample."""
        members = np.flatnonzero(self.included)
        return members[self.rng.random(len(members)) < rate]

    def append(self, chosen: np.ndarray, params: list[torch.nn.Parameter], batch: int) -> None:
        """Per-sample gradients for a batch of ``batch`` real records plus the chosen canaries."""
        k = len(chosen)
        rows = torch.zeros((batch + k, self.param.numel()), device=self.param.device)
        rows[torch.arange(batch, batch + k), torch.as_tensor(chosen, dtype=torch.long)] = self.value
        self.param.grad_sample = rows.reshape(batch + k, *self.param.shape)
        for p in params:
            if p is self.param or k == 0:
                continue
            zeros = torch.zeros((k, *p.shape), dtype=p.dtype, device=p.device)
            existing = getattr(p, "grad_sample", None)
            p.grad_sample = zeros if existing is None else torch.cat([existing, zeros])

    def scores(self) -> np.ndarray:
        """How far each canary's coordinate moved against its gradient (ties broken at random)."""
        return -self.param.detach().cpu().double().numpy().reshape(-1) + self.tiebreak

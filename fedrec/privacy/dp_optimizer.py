"""Opacus's DPOptimizer with private noise and, optionally, clipping by group.

- The Gaussian noise comes from :class:`~fedrec.privacy.randomness.PrivateRandomness`
  (OS randomness), never from a public seed.
- ``clip_groups``: each parameter belongs to a group with its own clipping norm
  ``C_g``; an example's gradient is clipped group by group. An example moves the
  clipped sum by at most ``sqrt(sum_g C_g^2)`` over the groups it can reach, so
  with ``sum_g C_g^2 = C^2`` the sensitivity stays ``C`` and the noise
  (σ·C on every coordinate) gives the same guarantee as flat clipping. Used to
  give the LoRA text tower a share of ``C`` of its own: its per-example gradient
  is one or two orders of magnitude smaller than the heads', so under flat
  clipping the heads take nearly all of the norm and LoRA gets noise alone.
- An example whose per-sample gradient holds a NaN or an inf adds nothing to the
  sum (clipping cannot bound it).
"""

from __future__ import annotations

import torch
from opacus.optimizers import DPOptimizer
from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

from fedrec.privacy.randomness import PrivateRandomness


class PrivateDPOptimizer(DPOptimizer):
    """DPOptimizer whose noise is private, with optional clipping by parameter group."""

    random: PrivateRandomness
    #: Group of each parameter (in ``self.params`` order) and each group's clipping
    #: norm; None: one flat clipping to ``max_grad_norm``.
    clip_groups: tuple[list[int], list[float]] | None = None

    def add_noise(self) -> None:
        std = self.noise_multiplier * self.max_grad_norm
        for p in self.params:
            p.grad = (p.summed_grad + self.random.normal(std, p.summed_grad)).view_as(p)

    def clip_and_accumulate(self) -> None:
        """Clip each example's gradient (group by group with :attr:`clip_groups`) and sum.
        An example whose gradient is not finite adds nothing: a NaN or inf passes any
        clipping factor, so a state a server built to overflow on some data alone would
        otherwise show, through a NaN release, whether that data was there."""
        samples = self.grad_samples
        n = len(samples[0])
        groups, norms = self.clip_groups or ([0] * len(self.params), [self.max_grad_norm])
        device = samples[0].device
        sizes = []  # each group's per-example gradient norm [n]
        for g in range(len(norms)):
            members = [s for s, grp in zip(samples, groups, strict=True) if grp == g]
            if not members or n == 0:
                sizes.append(torch.zeros(n, device=device))
                continue
            per = [m.reshape(n, -1).norm(2, dim=-1).to(device) for m in members]
            sizes.append(torch.stack(per, 1).norm(2, dim=1))
        # A NaN or inf anywhere in an example's gradient makes its norm NaN or inf.
        finite = torch.stack(sizes, 1).isfinite().all(dim=1) if n else torch.ones(0, dtype=bool)
        every = bool(finite.all())
        factors = []
        for bound, size in zip(norms, sizes, strict=True):
            factor = (bound / (size + 1e-6)).clamp(max=1.0)
            factors.append(factor if every else torch.where(finite, factor, 0.0))
        for p, grp in zip(self.params, groups, strict=True):
            _check_processed_flag(p.grad_sample)
            sample = self._get_flat_grad_sample(p).to(p.dtype)
            if not every:  # 0 times NaN is NaN: the example's values go, not only its weight
                keep = finite.to(sample.device).view(-1, *[1] * (sample.dim() - 1))
                sample = torch.where(keep, sample, torch.zeros_like(sample))
            grad = torch.einsum("i,i...", factors[grp].to(sample.device, p.dtype), sample)
            p.summed_grad = grad if p.summed_grad is None else p.summed_grad + grad
            _mark_as_processed(p.grad_sample)


def split_clipping(
    params: list[torch.nn.Parameter],
    text: set[int],
    own: set[int],
    clip: float,
    share: float,
) -> tuple[list[int], list[float]]:
    """Groups for :attr:`PrivateDPOptimizer.clip_groups`: parameters whose id is in ``text``
    clipped to ``share * clip``, those in ``own`` (the audit's canaries, which no real
    example reaches) to ``clip``, the rest to ``sqrt(1 - share^2) * clip``."""
    if not 0 < share < 1:
        raise ValueError(f"share={share} must be in (0, 1)")
    groups = [0 if id(p) in text else 2 if id(p) in own else 1 for p in params]
    return groups, [share * clip, (1 - share**2) ** 0.5 * clip, clip]

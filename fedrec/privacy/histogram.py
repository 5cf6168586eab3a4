"""A differentially private popularity histogram: how often each item was chosen.

Popularity is the strongest simple signal in recommendation, and the private
model needs it: trained through DP-SGD alone, a few noisy steps cannot learn
which items everyone likes. So before training each data holder releases one
histogram of its records' items (the Gaussian mechanism):

- each record (a user, or a user's window under ``privacy-unit =
  interaction``) contributes its set of items as a vector of L2 norm 1 (a
  record with ``n`` distinct items adds ``1 / sqrt(n)`` to each), so one record
  moves the histogram by at most 1;
- Gaussian noise of standard deviation ``dp-popularity-noise`` (σ, relative to
  that sensitivity of 1) is added to every item's count: under local DP by each
  client before the histogram leaves it, under central DP once to the sum.

It is one release of the Gaussian mechanism, ``(σ, q = 1, 1 step)`` in the
accountant: it composes with the DP-SGD steps (their σ is calibrated so that
both together reach ``target-epsilon``) and has its own line in the ledger
(round 0). The histogram then sets the model's starting item bias
(:meth:`~fedrec.models.recommender.TwoTowerRecommender.set_popularity_prior`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fedrec.config import Config
from fedrec.privacy.calibration import calibrate_noise
from fedrec.privacy.randomness import PrivateRandomness


def popularity_histogram(train: pd.DataFrame, n_items: int, unit: str, window: int) -> np.ndarray:
    """[n_items] float64: each record's distinct items, weighted to L2 norm 1, summed."""
    if len(train) == 0:
        return np.zeros(n_items)
    owner = train["user"].to_numpy(np.int64)
    if unit == "interaction":
        slot = train["timestamp"].to_numpy(np.int64) // int(window)
        owner = pd.factorize(pd.MultiIndex.from_arrays([owner, slot]))[0]
    pairs = pd.DataFrame({"owner": owner, "item": train["item"].to_numpy(np.int64)})
    pairs = pairs.drop_duplicates()
    per_owner = pairs.groupby("owner")["item"].transform("size").to_numpy(np.float64)
    return np.bincount(
        pairs["item"].to_numpy(), weights=1.0 / np.sqrt(per_owner), minlength=n_items
    )


def noised(histogram: np.ndarray, sigma: float, random: PrivateRandomness) -> np.ndarray:
    """``histogram`` plus N(0, σ²) on every item, from private randomness."""
    values = torch.as_tensor(histogram, dtype=torch.float64)
    return (values + random.normal(sigma, values)).numpy()


def release(sigma: float) -> tuple[float, float, int]:
    """The histogram's entry in an accountant: one Gaussian release."""
    return (float(sigma), 1.0, 1)


def popularity_noise(cfg: Config, delta: float) -> float:
    """σ of the popularity histogram: ``dp-popularity-noise``, or the σ at which it alone
    spends ``dp-popularity-share`` of ``target-epsilon`` (2 x ``noise-multiplier``
    without a target)."""
    privacy = cfg.privacy
    if privacy.dp_popularity_noise > 0:
        return privacy.dp_popularity_noise
    if privacy.target_epsilon > 0:
        share = privacy.dp_popularity_share * privacy.target_epsilon
        return calibrate_noise(share, delta, 1.0, 1)
    return 2.0 * privacy.noise_multiplier

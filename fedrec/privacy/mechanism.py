"""The public parameters of local DP-SGD: one :class:`LocalMechanism` for every client.

Under local DP the server is the adversary, so nothing a client sends may
depend on its data beyond the noised update. The mechanism's parameters
(noise multiplier σ, Poisson rate q, steps, δ) are therefore fixed from public
settings before anything trains, the same for every client, rather than
computed from each client's record count:

- ``q`` is ``dp-sample-rate``, or (0) ``batch-size`` over the records of the
  mean client, set once when the run starts;
- a local epoch is ``ceil(1 / q)`` steps, whatever the client holds;
- δ is ``delta``, or (0) ``min(1e-5, N^-1.1)`` for the ``N`` privacy units of
  the whole population (``dp-population``, or counted from the data);
- σ is ``noise-multiplier``, or calibrated so that the whole run (every
  planned round) reaches ``target-epsilon`` at δ;
- the noisy gradient sum is divided by ``batch-size``, a public constant (not
  by the client's expected batch, which would depend on its record count).

Privacy unit and what one record is (see :func:`fedrec.training.rows.build_rows`):
``user``: all of one user's data; ``interaction``: one user's interactions in
one ``dp-window`` (a day by default), so that one interaction changes exactly
one record: a row's history never reaches outside its window.
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fedrec.config import Config
from fedrec.errors import ConfigError
from fedrec.privacy.accounting import steps_by_mechanism
from fedrec.privacy.calibration import (
    calibrate_remaining,
    epsilon_of,
    resolve_delta,
)
from fedrec.privacy.histogram import popularity_noise
from fedrec.privacy.histogram import release as histogram_release
from fedrec.privacy.ledger import PrivacyLedger, PrivacySpend
from fedrec.privacy.randomness import CSPRNG, OS_SEEDED


@dataclass(frozen=True)
class LocalMechanism:
    """DP-SGD's parameters on every client of a run (all public)."""

    unit: str  # user | interaction
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps_per_epoch: int
    delta: float
    population: int  # N: the privacy units the guarantee covers (for δ)
    normalizer: int  # the public batch size the noisy gradient sum is divided by
    window: int  # seconds of one record under privacy-unit = interaction
    randomness: str  # where the noise and sampling come from: os | chacha20
    popularity_noise: float = 0.0  # σ of the popularity histogram released first (0: none)
    #: A random id of the run this mechanism was fixed for (kept on resume): a node keys
    #: its last reply by it, so a round asked again is answered without training again.
    run_id: str = ""

    def steps(self, epochs: int) -> int:
        return self.steps_per_epoch * epochs

    def spend(self, epochs: int) -> tuple[float, float, int]:
        """``(σ, q, steps)`` of ``epochs`` local epochs: one accountant entry."""
        return (self.noise_multiplier, self.sample_rate, self.steps(epochs))

    def before_training(self) -> list[tuple[float, float, int]]:
        """What a client spends before its first step: the popularity histogram, if any."""
        return [histogram_release(self.popularity_noise)] if self.popularity_noise else []

    def epsilon(self, history: list[tuple[float, float, int]]) -> float:
        return epsilon_of(history, self.delta)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LocalMechanism:
        try:
            values: dict[str, Any] = json.loads(text)
            mechanism = cls(**values)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"the DP mechanism sent is malformed ({err}).") from None
        mechanism.check()
        return mechanism

    def check(self) -> None:
        """Refuse parameters that give no guarantee (a hostile or broken sender)."""
        bad = []
        if not (self.noise_multiplier > 0 and math.isfinite(self.noise_multiplier)):
            bad.append(f"noise multiplier {self.noise_multiplier}")
        if not 0 < self.sample_rate <= 1:
            bad.append(f"sample rate {self.sample_rate}")
        if not 0 < self.delta < 1:
            bad.append(f"delta {self.delta}")
        if self.popularity_noise < 0 or not math.isfinite(self.popularity_noise):
            bad.append(f"popularity noise {self.popularity_noise}")
        if self.max_grad_norm <= 0 or self.steps_per_epoch < 1 or self.normalizer < 1:
            bad.append("clipping norm, steps or normalizer")
        if self.unit not in ("user", "interaction") or self.randomness not in (OS_SEEDED, CSPRNG):
            bad.append(f"unit {self.unit!r} or randomness {self.randomness!r}")
        if bad:
            raise ConfigError(f"the DP mechanism gives no guarantee: {', '.join(bad)}.")


def resolve_local_mechanism(
    cfg: Config, *, population: int, records_per_client: float, epochs: int
) -> LocalMechanism:
    """The mechanism of a run, from public settings and two counts fixed before it starts:
    ``population`` (N for δ; ``dp-population`` wins) and the mean client's records (for
    the default rate). ``epochs`` is the number of local epochs the whole run plans."""
    privacy = cfg.privacy
    population = privacy.dp_population or population
    delta = resolve_delta(privacy.delta, population, f"{cfg.train.privacy_unit} units")
    rate = privacy.dp_sample_rate or min(1.0, cfg.train.batch_size / max(records_per_client, 1.0))
    steps_per_epoch = math.ceil(1.0 / rate)
    histogram = popularity_noise(cfg, delta) if cfg.model.popularity_prior else 0.0
    sigma = privacy.noise_multiplier
    if privacy.target_epsilon > 0:
        # The histogram and the DP-SGD steps share the target: σ for the steps after it.
        before = [histogram_release(histogram)] if histogram else []
        sigma = calibrate_remaining(
            privacy.target_epsilon, delta, before, rate, steps_per_epoch * epochs
        )
    mechanism = LocalMechanism(
        unit=cfg.train.privacy_unit,
        noise_multiplier=float(sigma),
        max_grad_norm=privacy.max_grad_norm,
        sample_rate=float(rate),
        steps_per_epoch=steps_per_epoch,
        delta=float(delta),
        population=int(population),
        normalizer=cfg.train.batch_size,
        window=privacy.dp_window,
        randomness=CSPRNG if privacy.secure_mode else OS_SEEDED,
        popularity_noise=float(histogram),
        run_id=secrets.token_hex(8),
    )
    mechanism.check()
    return mechanism


def count_records(train: pd.DataFrame, unit: str, window: int) -> int:
    """The privacy units in ``train``: users, or (user, window) records."""
    if unit == "user":
        return int(train["user"].nunique())
    slots = train["timestamp"].to_numpy(np.int64) // int(window)
    return int(pd.DataFrame({"u": train["user"].to_numpy(), "s": slots}).drop_duplicates().shape[0])


def extend_mechanism(
    mechanism: LocalMechanism, cfg: Config, *, epochs_done: int, epochs_total: int
) -> LocalMechanism:
    """The mechanism for the rest of a resumed run that plans ``epochs_total`` local epochs
    in all: with ``target-epsilon``, σ for the epochs left so that a client that trained in
    every round so far stays at the target (refused when it is spent already)."""
    if cfg.privacy.target_epsilon <= 0 or epochs_total <= epochs_done:
        return mechanism
    spent = [*mechanism.before_training(), mechanism.spend(epochs_done)]
    sigma = calibrate_remaining(
        cfg.privacy.target_epsilon,
        mechanism.delta,
        spent,
        mechanism.sample_rate,
        mechanism.steps(epochs_total - epochs_done),
    )
    return dataclasses.replace(mechanism, noise_multiplier=max(sigma, mechanism.noise_multiplier))


class LocalSpends:
    """Every client's local-DP spends as the server records them: from the public
    mechanism and whether the client trained (nothing the client reports), restored from
    the ledger on resume."""

    def __init__(self, ledger: PrivacyLedger, mode: str) -> None:
        self.ledger, self.mode = ledger, mode
        self.history: dict[int, list[tuple[float, float, int]]] = {}
        for line in ledger.read():
            spent = self.history.setdefault(int(line["client"]), [])
            if int(line["steps"]):
                spent.append(
                    (
                        float(line["noise_multiplier"]),
                        float(line["sample_rate"]),
                        int(line["steps"]),
                    )
                )

    def record_histogram(self, mechanism: LocalMechanism, client: int) -> None:
        """The ledger line (round 0) of one client's popularity histogram."""
        this = histogram_release(mechanism.popularity_noise)
        spent = self.history.setdefault(client, [])
        spent.append(this)
        spend = PrivacySpend(
            noise_multiplier=this[0],
            max_grad_norm=1.0,
            sample_rate=1.0,
            delta=mechanism.delta,
            records=mechanism.population,
            steps=1,
            epsilon=mechanism.epsilon(spent),
            epsilon_round=mechanism.epsilon([this]),
        )
        self.ledger.append(spend.entry(0, client, self.mode, mechanism.unit, mechanism.randomness))

    def catch_up(
        self, mechanism: LocalMechanism, rnd: int, client: int, own: list[tuple[float, float, int]]
    ) -> int:
        """Record the spends a client's own accountant (``own``) holds beyond its ledger
        lines, as lines of round ``rnd``: a run stopped after the client trained and before
        the server logged it. The update went out, so its spend counts, beside the one of
        the round asked again. Returns the steps recorded."""
        logged = steps_by_mechanism(self.history.get(client, []))
        owned = steps_by_mechanism(own)
        added = 0
        for (sigma, q), steps in sorted(owned.items()):
            extra = steps - logged.get((sigma, q), 0)
            if extra <= 0:
                continue
            this = (sigma, q, extra)
            spent = self.history.setdefault(client, [])
            spent.append(this)
            spend = PrivacySpend(
                noise_multiplier=sigma,
                max_grad_norm=mechanism.max_grad_norm,
                sample_rate=q,
                delta=mechanism.delta,
                records=mechanism.population,
                steps=extra,
                epsilon=mechanism.epsilon(spent),
                epsilon_round=mechanism.epsilon([this]),
            )
            self.ledger.append(
                spend.entry(rnd, client, self.mode, mechanism.unit, mechanism.randomness)
            )
            added += extra
        return added

    def record(
        self, mechanism: LocalMechanism, rnd: int, client: int, *, trained: bool, epochs: int
    ) -> None:
        """The ledger line of one client's round (a declined round spends nothing)."""
        spent = self.history.setdefault(client, [])
        this = mechanism.spend(epochs if trained else 0)
        if trained:
            spent.append(this)
        spend = PrivacySpend(
            noise_multiplier=mechanism.noise_multiplier,
            max_grad_norm=mechanism.max_grad_norm,
            sample_rate=mechanism.sample_rate,
            delta=mechanism.delta,
            records=mechanism.population,
            steps=this[2],
            epsilon=mechanism.epsilon(spent),
            epsilon_round=mechanism.epsilon([this]),
        )
        self.ledger.append(
            spend.entry(rnd, client, self.mode, mechanism.unit, mechanism.randomness)
        )

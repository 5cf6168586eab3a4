"""Run an empirical (canary) audit of a run's privacy mechanism, with the run's settings.

- DP-SGD runs (``privacy-mode = local``, federated or centralized) and
  non-private runs: the DP-SGD of :class:`~fedrec.privacy.dp_sgd.DPSGDTrainer`
  is re-run on the data of one data holder (client 0 of a federation, or the
  whole training set of a centralized run) for the run's number of epochs, with
  Dirac gradient canaries among its records. A non-private run is audited as
  DP-SGD with no noise, so its bound should sit at the method's ceiling.
- Central DP runs: the rounds of DP-FedAvg are replayed with canary clients
  whose update is a fixed large push on their own coordinate, through Flower's
  clipping and noise, with the run's σ, clipping norm, sampling rate and rounds.

Both return an :class:`~fedrec.privacy.empirical.EmpiricalResult`.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from tqdm.auto import tqdm

from fedrec.config import Config
from fedrec.data.loading import prepare_split
from fedrec.device import pick_device
from fedrec.federated.partition import check_partition, client_data
from fedrec.federated.server import MECHANISM
from fedrec.models.catalog_model import build_catalog_model
from fedrec.privacy.calibration import epsilon_of
from fedrec.privacy.central import CentralDP
from fedrec.privacy.dp_sgd import DPSGDTrainer, dp_rows
from fedrec.privacy.empirical import CANARY_SCALE, EmpiricalResult, audit_delta, audit_scores
from fedrec.privacy.mechanism import LocalMechanism, count_records, resolve_local_mechanism
from fedrec.runs.rundir import RunDir


def empirical_audit(
    run_dir: str, canaries: int = 1000, *, progress: bool = True
) -> EmpiricalResult:
    run = RunDir(run_dir).require()
    cfg = run.read_config()
    federated = run.read_kind() != "centralized"
    if cfg.privacy.privacy_mode == "central":
        return central_canary_audit(cfg, canaries, progress=progress)
    saved = run.path / MECHANISM
    mechanism = LocalMechanism.from_json(saved.read_text()) if saved.is_file() else None
    return dp_sgd_canary_audit(
        cfg, canaries, federated=federated, progress=progress, mechanism=mechanism
    )


def dp_sgd_canary_audit(
    cfg: Config,
    canaries: int,
    *,
    federated: bool,
    progress: bool = True,
    mechanism: LocalMechanism | None = None,
) -> EmpiricalResult:
    """DP-SGD as the run trained (its saved ``mechanism``, else the one its config gives)
    on the data of client 0 (or the whole training set), with canaries among its records.
    A non-private run is audited as the same DP-SGD with no noise."""
    private = cfg.privacy.privacy_mode == "local"
    torch.manual_seed(cfg.train.seed)
    rng = np.random.default_rng((cfg.train.seed, 7))
    split = prepare_split(cfg)
    cm = build_catalog_model(split, cfg.model, cfg.data, pick_device(cfg.train.device))
    fed = cfg.federation
    if federated:
        data = client_data(
            split,
            fed.partition,
            fed.num_clients,
            0,
            alpha=fed.dirichlet_alpha,
            seed=cfg.train.seed,
        ).train
        epochs = fed.num_server_rounds * fed.local_epochs
    else:
        data, epochs = split.train, cfg.train.epochs
    if mechanism is None:
        audited = cfg if private else _as_dp_sgd(cfg)
        records = count_records(data, audited.train.privacy_unit, audited.privacy.dp_window)
        population = records * (fed.num_clients or 1) if federated else records
        mechanism = resolve_local_mechanism(
            audited, population=population, records_per_client=records, epochs=epochs
        )
    if not private:  # the same DP-SGD code path, with nothing added: no noise
        mechanism = dataclasses.replace(mechanism, noise_multiplier=0.0)
    rows = dp_rows(data, cfg.data.max_history, mechanism)
    trainer = DPSGDTrainer(cm, rows, cfg.train, cfg.privacy, mechanism, rng=rng, canaries=canaries)
    try:
        for epoch in tqdm(range(epochs), desc="audit: DP-SGD with canaries", disable=not progress):
            trainer.epoch(desc=f"epoch {epoch + 1}")
        if trainer.canaries is None:  # pragma: no cover - canaries > 0 always builds them
            raise RuntimeError("no canaries were inserted")
        delta = audit_delta(canaries, trainer.delta)
        theory = epsilon_of(trainer.history(), delta) if private else math.inf
        return audit_scores(
            trainer.canaries.scores(),
            trainer.canaries.included,
            delta=delta,
            epsilon_theory=theory,
            mechanism=f"DP-SGD, σ={trainer.noise_multiplier:.3g}, {trainer.unit} level",
        )
    finally:
        trainer.close()


def _as_dp_sgd(cfg: Config) -> Config:
    """A non-private run's config read as local DP (for its mechanism's shape only)."""
    return dataclasses.replace(
        cfg, privacy=dataclasses.replace(cfg.privacy, privacy_mode="local", target_epsilon=1.0)
    )


def central_canary_audit(cfg: Config, canaries: int, *, progress: bool = True) -> EmpiricalResult:
    """DP-FedAvg rounds with canary clients (Flower's clipping and noise)."""
    from fedrec.federated.flower.strategy import add_central_noise, clip_update

    fed = cfg.federation
    population = check_partition(prepare_split(cfg), fed.partition, fed.num_clients)
    dp = CentralDP.from_config(cfg, population)
    rng = np.random.default_rng((cfg.train.seed, 11))
    included = rng.random(canaries) < 0.5
    state = np.zeros(canaries)
    np.random.seed(int(rng.integers(2**31)))  # Flower's noise draws from numpy's global RNG
    for _ in tqdm(range(fed.num_server_rounds), desc="audit: DP-FedAvg", disable=not progress):
        sampled = np.flatnonzero(included & (rng.random(canaries) < dp.sample_rate))
        total = np.zeros(canaries)
        for j in sampled:  # each canary client pushes its coordinate hard; clipped to C
            update = [state.copy()]
            update[0][j] += CANARY_SCALE * dp.clipping_norm
            clip_update(update, [state], dp.clipping_norm)
            total += update[0] - state
        release = [state + total / dp.expected_clients]
        add_central_noise(release, dp.noise_multiplier, dp.clipping_norm, dp.expected_clients)
        state = release[0]
    delta = audit_delta(canaries, dp.delta)
    return audit_scores(
        state,
        included,
        delta=delta,
        epsilon_theory=dp.epsilon(fed.num_server_rounds, delta),
        mechanism=f"DP-FedAvg, σ={dp.noise_multiplier:.3g}, client level",
    )

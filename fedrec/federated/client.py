"""What one client does in a round, with no knowledge of Flower.

:class:`ClientRuntime` holds a client's private data (its partition of the
training interactions), the shared frozen backbone and the public catalog. It
trains from the global trainable state it is given and returns only the new
trainable state (LoRA + heads), its example count and metrics.

Building the backbone, the split and the catalog model costs seconds, so a
process keeps them in a small cache keyed by the settings that shape them
(:func:`client_runtime`); each client still reads only its own partition.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np
import torch

from fedrec.centralized import model_scorer, prepare_split
from fedrec.config import Config, build_config, split_list
from fedrec.data.split import Split
from fedrec.device import pick_device
from fedrec.evaluation import evaluate_cases
from fedrec.federated.partition import ClientData, client_data
from fedrec.models.catalog_model import CatalogModel, build_catalog_model
from fedrec.models.recommender import load_trainable_state, trainable_state
from fedrec.privacy.dp_sgd import DPSGDTrainer
from fedrec.training.rows import build_rows
from fedrec.training.trainer import make_optimizer, train_epoch


class InjectedClientFailure(RuntimeError):
    """Raised by clients listed in ``fail-clients`` (fault-tolerance drills)."""


@dataclass(frozen=True)
class TrainResult:
    state: dict[str, torch.Tensor] | None  # None: the client declined (privacy budget)
    num_examples: int
    metrics: dict[str, float]
    privacy_history: list[tuple[float, float, int]] | None = None


@dataclass(frozen=True)
class EvalResult:
    num_examples: int
    metrics: dict[str, float]


class ClientRuntime:
    """One client's data and model: ``train`` and ``evaluate`` a global state."""

    def __init__(self, cfg: Config, partition_id: int, split: Split, cm: CatalogModel) -> None:
        fed = cfg.federation
        self.cfg = cfg
        self.partition_id = partition_id
        self.cm = cm
        self.split = split
        self.data: ClientData = client_data(
            split,
            fed.partition,
            fed.num_clients,
            partition_id,
            alpha=fed.dirichlet_alpha,
            seed=cfg.train.seed,
        )
        self.rows = build_rows(self.data.train, cfg.data.max_history)
        self.fail = partition_id in {int(v) for v in split_list(fed.fail_clients)}

    def train(
        self,
        state: dict[str, torch.Tensor],
        server_round: int,
        proximal_mu: float = 0.0,
        privacy_history: list[tuple[float, float, int]] | None = None,
    ) -> TrainResult:
        """Local epochs from ``state``; the result holds only the trainable state.

        Under ``privacy-mode = local`` the epochs are DP-SGD, ``privacy_history``
        (this client's accountant history from earlier rounds) is restored first,
        and a round that would take the client past ``budget-epsilon`` is declined:
        no training, no update.
        """
        if self.fail:
            raise InjectedClientFailure(
                f"client {self.partition_id} is listed in fail-clients and refuses to train"
            )
        start = time.perf_counter()
        seed = (self.cfg.train.seed, server_round, self.partition_id)
        torch.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
        rng = np.random.default_rng(seed)
        load_trainable_state(self.cm.model, state)
        self.cm.mark_stale()
        if self.cfg.privacy.privacy_mode == "local":
            return self._train_private(rng, start, privacy_history or [])
        optimizer = make_optimizer(self.cm, self.cfg.train)
        reference = {k: v.clone() for k, v in state.items()}
        losses, examples = [], 0
        for _ in range(self.cfg.federation.local_epochs):
            stats = train_epoch(
                self.cm,
                self.rows,
                optimizer,
                self.cfg.train,
                rng,
                proximal=(proximal_mu, reference),
            )
            losses.append(stats.loss)
            examples += stats.examples
        return TrainResult(
            state=trainable_state(self.cm.model),
            num_examples=examples,
            metrics=self._metrics(losses, start),
        )

    def _metrics(self, losses: list[float], start: float) -> dict[str, float]:
        return {
            "train-loss": float(np.mean(losses)) if losses else 0.0,
            "train-seconds": time.perf_counter() - start,
            "partition-id": self.partition_id,
        }

    def _train_private(
        self, rng: np.random.Generator, start: float, history: list[tuple[float, float, int]]
    ) -> TrainResult:
        fed, privacy = self.cfg.federation, self.cfg.privacy
        trainer = DPSGDTrainer(
            self.cm,
            self.rows,
            self.cfg.train,
            privacy,
            epochs=fed.num_server_rounds * fed.local_epochs,
            rng=rng,
            accountant_history=history,
        )
        try:
            steps = trainer.steps_per_epoch * fed.local_epochs
            spent = trainer.epsilon_after(0) if history else 0.0
            after = trainer.epsilon_after(steps)
            facts = {
                "noise-multiplier": trainer.noise_multiplier,
                "max-grad-norm": privacy.max_grad_norm,
                "sample-rate": trainer.sample_rate,
                "delta": trainer.delta,
                "records": trainer.records,
            }
            if privacy.budget_epsilon and after > privacy.budget_epsilon:
                return TrainResult(
                    state=None,
                    num_examples=0,
                    metrics={
                        **self._metrics([], start),
                        **facts,
                        "declined": 1,
                        "steps": 0,
                        "epsilon": spent,
                        "epsilon-round": 0.0,
                    },
                    privacy_history=history,
                )
            losses, examples = [], 0
            for _ in range(fed.local_epochs):
                stats = trainer.epoch()
                losses.append(stats.loss)
                examples += stats.examples
            report = trainer.report()
            return TrainResult(
                state=trainable_state(self.cm.model),
                num_examples=examples,
                metrics={
                    **self._metrics(losses, start),
                    **facts,
                    "declined": 0,
                    "steps": steps,
                    "epsilon": report.epsilon,
                    "epsilon-round": trainer.epsilon_alone(steps),
                },
                privacy_history=trainer.history(),
            )
        finally:
            trainer.close()

    def evaluate(self, state: dict[str, torch.Tensor]) -> EvalResult:
        """NDCG@K on this client's own validation cases, seen through its own history."""
        start = time.perf_counter()
        load_trainable_state(self.cm.model, state)
        self.cm.mark_stale()
        cases = self.data.valid
        k = self.cfg.eval.k
        if len(cases) == 0:
            return EvalResult(0, {"eval-seconds": time.perf_counter() - start})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # diversity is not computed client-side
            result = evaluate_cases(
                model_scorer(self.cm), cases, self.split, k=k, seed=self.cfg.train.seed
            )
        return EvalResult(
            len(cases),
            {
                f"val-ndcg@{k}": result[f"ndcg@{k}"],
                f"val-hr@{k}": result[f"hr@{k}"],
                "eval-seconds": time.perf_counter() - start,
            },
        )


def client_runtime(flat_config: dict[str, object], partition_id: int) -> ClientRuntime:
    """The runtime of ``partition_id`` for a flat config, reusing this process's caches."""
    return _runtime(json.dumps(flat_config, sort_keys=True), partition_id)


@lru_cache(maxsize=64)
def _runtime(flat_json: str, partition_id: int) -> ClientRuntime:
    cfg = build_config(json.loads(flat_json))
    split, cm = _shared(_shape_key(cfg))
    return ClientRuntime(cfg, partition_id, split, cm)


def _shape_key(cfg: Config) -> str:
    """The settings that decide the split and the model's shape (not training knobs)."""
    keep = {**_section(cfg.data), **_section(cfg.model), "seed": cfg.train.seed}
    threads = cfg.train.threads or max(1, int(cfg.federation.client_cpus))
    keep["device"], keep["threads"] = cfg.train.device, threads
    return json.dumps(keep, sort_keys=True)


def _section(obj: object) -> dict[str, object]:
    return asdict(obj)  # type: ignore[call-overload]


@lru_cache(maxsize=2)
def _shared(key: str) -> tuple[Split, CatalogModel]:
    values = json.loads(key)
    device_setting, threads = values.pop("device"), values.pop("threads")
    cfg = build_config({k.replace("_", "-"): v for k, v in values.items()})
    split = prepare_split(cfg)
    device = pick_device(device_setting, threads)
    return split, build_catalog_model(split, cfg.model, cfg.data, device)

"""What one client does in a round, with no knowledge of Flower.

:class:`ClientRuntime` holds a client's private data (its partition of the
training interactions), the shared frozen backbone and the public catalog. It
trains from the global trainable state it is given and returns only the new
trainable state (LoRA + heads), its example count and metrics.

Building the backbone, the split and the catalog model costs seconds, so a
process keeps them in a small cache keyed by the settings that shape them
(:func:`client_runtime`, :func:`~fedrec.federated.sources.shared_model`); each
client still reads only its own partition.
"""

from __future__ import annotations

import time
import warnings
from functools import lru_cache

import numpy as np
import torch

from fedrec.config import Config
from fedrec.evaluation.harness import evaluate_cases
from fedrec.federated.protocol import EvalResult, State, TrainResult
from fedrec.federated.sources import ClientInputs, ClientSource, GlobalSplitSource
from fedrec.memory import release_freed_memory
from fedrec.models.state import load_trainable_state, trainable_state
from fedrec.privacy.dp_sgd import DPSGDTrainer, dp_rows
from fedrec.privacy.histogram import noised, popularity_histogram
from fedrec.privacy.histogram import release as histogram_release
from fedrec.privacy.mechanism import LocalMechanism
from fedrec.privacy.randomness import CSPRNG, PrivateRandomness
from fedrec.training.rows import build_rows
from fedrec.training.trainer import make_optimizer, train_epoch


class ClientRuntime:
    """One client's data and model: ``train`` and ``evaluate`` a global state."""

    def __init__(self, cfg: Config, partition_id: int, inputs: ClientInputs) -> None:
        self.cfg = cfg
        self.partition_id = partition_id
        self.cm = inputs.cm
        self.split = inputs.split
        self.data = inputs.data
        self.rows = build_rows(self.data.train, cfg.data.max_history)

    def train(
        self,
        state: State,
        server_round: int,
        proximal_mu: float = 0.0,
        privacy_history: list[tuple[float, float, int]] | None = None,
        mechanism: LocalMechanism | None = None,
        budget: float = 0.0,
    ) -> TrainResult:
        """Local epochs from ``state``; the result holds only the trainable state.

        Under ``privacy-mode = local`` the epochs are DP-SGD with ``mechanism`` (the
        run's public one), ``privacy_history`` (this client's accountant history from
        earlier rounds) is restored first, and a round that would take the client past
        ``budget`` (its own policy's ε cap) is declined: no training, no update.
        """
        try:
            return self._train(state, server_round, proximal_mu, privacy_history, mechanism, budget)
        finally:
            release_freed_memory()  # a worker trains thousands of clients: stay flat

    def _train(
        self,
        state: State,
        server_round: int,
        proximal_mu: float,
        privacy_history: list[tuple[float, float, int]] | None,
        mechanism: LocalMechanism | None,
        budget: float,
    ) -> TrainResult:
        start = time.perf_counter()
        seed = (self.cfg.train.seed, server_round, self.partition_id)
        torch.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
        rng = np.random.default_rng(seed)
        load_trainable_state(self.cm.model, state)
        self.cm.mark_stale()
        if self.cfg.privacy.privacy_mode == "local":
            if mechanism is None:
                raise ValueError("local DP training needs the run's mechanism")
            return self._train_private(rng, start, privacy_history or [], mechanism, budget)
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
        return self._result(trainable_state(self.cm.model), examples, losses, start)

    def _result(
        self,
        state: State | None,
        examples: int,
        losses: list[float],
        start: float,
        **privacy: object,
    ) -> TrainResult:
        return TrainResult(
            partition=self.partition_id,
            state=state,
            num_examples=examples,
            train_loss=float(np.mean(losses)) if losses else 0.0,
            train_seconds=time.perf_counter() - start,
            **privacy,  # type: ignore[arg-type]
        )

    def _train_private(
        self,
        rng: np.random.Generator,
        start: float,
        history: list[tuple[float, float, int]],
        mechanism: LocalMechanism,
        budget: float,
    ) -> TrainResult:
        local_epochs = self.cfg.federation.local_epochs
        rows = dp_rows(self.data.train, self.cfg.data.max_history, mechanism)
        trainer = DPSGDTrainer(
            self.cm,
            rows,
            self.cfg.train,
            self.cfg.privacy,
            mechanism,
            rng=rng,
            accountant_history=history,
        )
        try:
            steps = mechanism.steps(local_epochs)
            if budget and trainer.epsilon_after(steps) > budget:
                return self._result(
                    None, 0, [], start, spend=trainer.spend(0), privacy_history=history
                )
            losses, examples = [], 0
            for _ in range(local_epochs):
                stats = trainer.epoch()
                losses.append(stats.loss)
                examples += stats.examples
            return self._result(
                trainable_state(self.cm.model),
                examples,
                losses,
                start,
                spend=trainer.spend(steps),
                privacy_history=trainer.history(),
            )
        finally:
            trainer.close()

    def popularity(
        self,
        mechanism: LocalMechanism | None,
        history: list[tuple[float, float, int]] | None = None,
        budget: float = 0.0,
    ) -> tuple[np.ndarray | None, list[tuple[float, float, int]] | None]:
        """This client's popularity histogram (:mod:`fedrec.privacy.histogram`) and, under
        local DP, its accountant history after releasing it (the histogram is noised here,
        from private randomness; None when it would pass ``budget``). Without DP it is
        exact; under central DP it is clipped to norm 1 (the server adds the noise)."""
        mode, privacy = self.cfg.privacy.privacy_mode, self.cfg.privacy
        unit = mechanism.unit if mechanism is not None else self.cfg.train.privacy_unit
        window = mechanism.window if mechanism is not None else privacy.dp_window
        counts = popularity_histogram(self.data.train, self.cm.n_items, unit, window)
        if mode == "off":
            return counts, None
        if mode == "central":  # the client is the unit: its whole histogram moves by <= 1
            return counts / max(1.0, float(np.linalg.norm(counts))), None
        if mechanism is None or not mechanism.popularity_noise:
            raise ValueError("a local-DP histogram needs the run's mechanism and its noise")
        spent = [*(history or []), histogram_release(mechanism.popularity_noise)]
        if budget and mechanism.epsilon(spent) > budget:
            return None, list(history or [])
        random = PrivateRandomness(torch.device("cpu"), secure=mechanism.randomness == CSPRNG)
        return noised(counts, mechanism.popularity_noise, random), spent

    def evaluate(self, state: State) -> EvalResult:
        """NDCG@K on this client's own validation cases, seen through its own history."""
        try:
            return self._evaluate(state)
        finally:
            release_freed_memory()

    def _evaluate(self, state: State) -> EvalResult:
        start = time.perf_counter()
        load_trainable_state(self.cm.model, state)
        self.cm.mark_stale()
        cases = self.data.valid
        k = self.cfg.eval.k
        if len(cases) == 0:
            return EvalResult(0, {}, time.perf_counter() - start)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # diversity is not computed client-side
            result = evaluate_cases(
                self.cm.score_all, cases, self.split, k=k, seed=self.cfg.train.seed
            )
        metrics = {f"val_ndcg@{k}": result[f"ndcg@{k}"], f"val_hr@{k}": result[f"hr@{k}"]}
        return EvalResult(len(cases), metrics, time.perf_counter() - start)


def client_runtime(
    cfg: Config, partition_id: int, source: ClientSource | None = None
) -> ClientRuntime:
    """The runtime of ``partition_id`` under ``cfg``, reusing this process's caches."""
    return _runtime(cfg, partition_id, source or _GLOBAL)


_GLOBAL = GlobalSplitSource()


@lru_cache(maxsize=64)
def _runtime(cfg: Config, partition_id: int, source: ClientSource) -> ClientRuntime:
    return ClientRuntime(cfg, partition_id, source.inputs(cfg, partition_id))

"""DP-SGD with Opacus for the two-tower recommender.

Guarantee: (ε, δ)-differential privacy of the trained trainable state (and of
everything computed from it) with respect to one *privacy unit* of the training
data, against anyone who sees that state: the server and the public model when
this runs on a client, the public model when it runs centrally.

- ``privacy-unit = user``: a record is one user. Users are Poisson-sampled with
  rate q; a sampled user contributes one of its interactions, drawn at random,
  with the history before it, so its whole data moves any step's clipped
  gradient by at most the clipping norm.
- ``privacy-unit = interaction``: a record is one user's interactions in one
  ``dp-window``; a sampled record contributes one of its interactions with the
  record's own earlier interactions as history. A row's history never reaches
  outside its record, so adding or removing one interaction changes one record
  (a row whose history held the user's earlier interactions would make one
  interaction touch up to 1 + ``max-history`` records).

δ is the probability with which the ε bound may fail, set against the whole
population the guarantee covers (:mod:`fedrec.privacy.mechanism`).

Mechanism (:class:`~fedrec.privacy.mechanism.LocalMechanism`, all public):
Poisson sampling of records at rate q, per-sample gradients (Opacus hooks on
the head and ID layers, and on LoRA with ``dp-text = trained``; see
:func:`~fedrec.training.per_example.per_example_loss`), clipping to
``max-grad-norm`` (with LoRA trained, LoRA's part and the rest each to a share
of it whose squares sum to its square: :mod:`fedrec.privacy.dp_optimizer`),
Gaussian noise of σ times the clipping norm on the sum, divided by the public
``batch-size``; PLD accounting. The Poisson masks, the noise and every other
draw of a step (a record's row, its negatives) come from OS randomness
(:mod:`fedrec.privacy.randomness`), never from the run's seed. Steps with an
empty batch still add noise and are still accounted. A Poisson batch larger
than ``dp-physical-batch`` is run in pieces whose clipped gradients are summed
before the one noisy step (what Opacus's ``BatchMemoryManager`` does), so
memory is bounded and the mechanism is unchanged.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from opacus import GradSampleModule
from tqdm.auto import tqdm

from fedrec.config import Config, PrivacyConfig, TrainConfig
from fedrec.errors import ConfigError
from fedrec.models.catalog_model import CatalogModel
from fedrec.privacy.calibration import ACCOUNTANT, epsilon_of
from fedrec.privacy.dp_optimizer import PrivateDPOptimizer, split_clipping
from fedrec.privacy.empirical import GradientCanaries
from fedrec.privacy.ledger import LedgerEntry, PrivacySpend
from fedrec.privacy.mechanism import LocalMechanism, count_records, resolve_local_mechanism
from fedrec.privacy.randomness import PrivateRandomness, private_numpy_rng
from fedrec.training.per_example import per_example_loss
from fedrec.training.rows import TrainingRows, build_rows
from fedrec.training.trainer import (
    EpochStats,
    make_optimizer,
    request_scenarios,
    training_histories,
    user_views,
)

AUDIT_PARAM = "audit_canaries"
#: Bytes of per-sample gradients one backward pass may hold when ``dp-physical-batch
#: = 0``. Opacus materialises one gradient per example for every tensor it trains,
#: the ID embedding (items x dim) included. On the CPU, small pieces are also the
#: faster ones (docs/BENCHMARKS.md: on MovieLens-100K, pieces of 32-64 examples took
#: 0.23-0.27 s a step against 0.33-0.42 s for the whole batch of 256; on a 9,000-item
#: catalog 0.47 s against 1.98 s): fresh allocations of hundreds of MB cost more than
#: they save. On a GPU the budget is only about memory.
PER_SAMPLE_BUDGET_BYTES = {"cpu": 32 << 20, "cuda": 1 << 30}


def physical_batch_size(requested: int, bytes_per_example: int, device: torch.device) -> int:
    """Most examples per backward pass: ``requested``, or (0) what fits the device's budget.

    ``bytes_per_example`` is the size of one example's per-sample gradient: every
    trained tensor, at its own dtype.
    """
    if requested > 0:
        return requested
    budget = PER_SAMPLE_BUDGET_BYTES["cuda" if device.type == "cuda" else "cpu"]
    return max(1, budget // max(1, bytes_per_example))


History = list[tuple[float, float, int]]


@dataclass(frozen=True)
class PrivacyReport:
    """What a privacy officer needs to restate the guarantee."""

    mode: str
    unit: str
    epsilon: float
    delta: float
    noise_multiplier: float
    max_grad_norm: float
    sample_rate: float
    steps: int
    records: int  # N, the population δ is set against
    accountant: str
    randomness: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def dp_rows(train: pd.DataFrame, max_history: int, mechanism: LocalMechanism) -> TrainingRows:
    """The rows DP-SGD samples, grouped by record (a user, or a user's window)."""
    window = mechanism.window if mechanism.unit == "interaction" else None
    return build_rows(train, max_history, window=window)


class DPSGDTrainer:
    """Trains ``cm`` with DP-SGD over ``rows`` (grouped by record), one epoch at a time."""

    def __init__(
        self,
        cm: CatalogModel,
        rows: TrainingRows,
        train: TrainConfig,
        privacy: PrivacyConfig,
        mechanism: LocalMechanism,
        *,
        rng: np.random.Generator,
        accountant_history: History | None = None,
        canaries: int = 0,
    ) -> None:
        """``rng`` (public seed) draws only the audit canaries; every draw a step makes
        (which records, which of a record's rows, its negatives, the noise) comes from
        the private generator. ``accountant_history`` restores earlier spending (a
        client's past rounds), so ε composes over all of it."""
        self.cm, self.rows, self.train_cfg, self.privacy = cm, rows, train, privacy
        self.mechanism = mechanism
        self.rng = rng
        self.unit = mechanism.unit
        self.records = len(rows.owner_start)
        if self.records == 0 or len(rows) == 0:
            raise ConfigError("DP-SGD needs at least one training record.")
        self.delta = mechanism.delta
        self.noise_multiplier = mechanism.noise_multiplier
        self.sample_rate = mechanism.sample_rate
        self._history: History = [
            (float(s), float(q), int(n)) for s, q, n in accountant_history or []
        ]
        self.random = PrivateRandomness(cm.device, secure=mechanism.randomness == "chacha20")
        # With dp-text=frozen the LoRA text tower is not part of the DP optimizer: it never
        # enters the loss, so it gets no gradient, no noise, and stays as it came (and the
        # catalog's text cache stays valid across steps).
        self.text_trains = privacy.dp_text == "trained"
        optimizer = make_optimizer(cm, train, text_tower=self.text_trains)
        # Dirac canaries for the empirical audit (fedrec.privacy.empirical); none in training.
        self.canaries = (
            GradientCanaries(canaries, mechanism.max_grad_norm, rng, cm.device)
            if canaries
            else None
        )
        if self.canaries is not None:  # a parameter of the model while the audit runs
            cm.model.add_module(AUDIT_PARAM, self.canaries.layer)
            optimizer.add_param_group({"params": [self.canaries.param], "weight_decay": 0.0})
        cm.model.train()
        # Per-sample gradients of a summed loss; the noisy sum is divided by the public
        # batch size (the normalizer), never by anything a client's data decides.
        self.module = GradSampleModule(cm.model, batch_first=True, loss_reduction="sum")
        self.optimizer = PrivateDPOptimizer(
            optimizer,
            noise_multiplier=mechanism.noise_multiplier,
            max_grad_norm=mechanism.max_grad_norm,
            expected_batch_size=mechanism.normalizer,
            loss_reduction="mean",
        )
        self.optimizer.random = self.random
        share = privacy.dp_text_clip_share
        if self.text_trains and share > 0:  # LoRA gets share·C of its own (dp_optimizer)
            text = {id(p) for p in cm.model.encoder.parameters() if p.requires_grad}
            own = {id(self.canaries.param)} if self.canaries is not None else set()
            self.optimizer.clip_groups = split_clipping(
                self.optimizer.params, text, own, mechanism.max_grad_norm, share
            )
        self.physical_batch = physical_batch_size(
            privacy.dp_physical_batch,
            sum(p.numel() * p.element_size() for p in self.optimizer.params),
            cm.device,
        )

    def _rows_of(self, records: torch.Tensor) -> np.ndarray:
        """One row of each sampled record, drawn for that record alone (private generator)."""
        owners = records.cpu().numpy()
        draw = self.random.uniform(len(owners)).numpy()
        offset = (draw * self.rows.owner_count[owners]).astype(np.int64)
        return self.rows.owner_start[owners] + np.minimum(offset, self.rows.owner_count[owners] - 1)

    def epoch(self, *, progress: bool = False, desc: str = "DP-SGD") -> EpochStats:
        """``steps_per_epoch`` noisy steps, each on a fresh Poisson sample of the records."""
        cm = self.cm
        cm.ensure_fresh(users=self.rows.users)
        cm.model.train()
        start, total, seen = time.perf_counter(), 0.0, 0
        steps = range(self.mechanism.steps_per_epoch)
        for _ in tqdm(steps, desc=desc, disable=not progress, leave=False):
            self.random.reseed()
            records = self.random.poisson(self.records, self.sample_rate)
            with self.random.global_torch():  # dropout, if any, draws privately too
                loss, count = self._step(records)
            total, seen = total + loss, seen + count
        cm.model.eval()
        return EpochStats(total / max(seen, 1), seen, time.perf_counter() - start)

    def _step(self, records: torch.Tensor) -> tuple[float, int]:
        """One noisy step on the sampled ``records``: (summed loss, examples)."""
        self.optimizer.zero_grad(set_to_none=True)
        chosen = self.canaries.sample(self.sample_rate) if self.canaries else []
        if len(records) == 0:  # Poisson sampling picked nobody: the step still happens
            if len(chosen):
                self.canaries.append(chosen, self.optimizer.params, 0)  # type: ignore[union-attr]
                self.optimizer.step()
                self._stepped()
            else:
                self._noise_only_step()
            return 0.0, 0
        idx = self._rows_of(records)
        device = self.cm.device
        # Cold-start and new-to-scenario shaping of the histories: each row's own data,
        # cut by draws from the OS like every other draw of a step.
        shaping = private_numpy_rng()
        histories = training_histories(self.cm, self.rows, idx, self.train_cfg, shaping)
        scenarios = request_scenarios(self.cm, self.rows.targets[idx], shaping)
        views = user_views(self.cm, self.rows, idx, self.train_cfg, shaping)
        negatives = self.random.integers(self.cm.n_items, (len(idx), self.privacy.dp_negatives))
        pieces = np.array_split(np.arange(len(idx)), math.ceil(len(idx) / self.physical_batch))
        total = 0.0
        for j, piece in enumerate(pieces):
            last = j == len(pieces) - 1
            if j:  # keeps the clipped sum of the earlier pieces (Opacus: summed_grad)
                self.optimizer.zero_grad(set_to_none=True)
            picked = idx[piece]
            at = torch.as_tensor(piece, device=device)
            loss = per_example_loss(
                self.cm,
                torch.as_tensor(self.rows.users[picked], device=device),
                torch.as_tensor(self.rows.targets[picked], device=device),
                torch.as_tensor(histories[piece], device=device),
                negatives[torch.as_tensor(piece)].to(device),
                reduction="sum",
                text=self.privacy.dp_text,
                text_negatives=self.privacy.dp_text_negatives,
                generator=self.random.on_device,
                scenario=None if scenarios is None else scenarios[piece],
                views=[view.take(at) for view in views],
            )
            with warnings.catch_warnings():
                # Opacus' hooks need only the outputs' gradients; the frozen backbone's
                # inputs need none, which torch points out on every step.
                warnings.filterwarnings("ignore", "Full backward hook is firing", UserWarning)
                loss.backward()
            if self.canaries is not None:  # the step's canaries join its last piece
                self.canaries.append(
                    chosen if last else chosen[:0], self.optimizer.params, len(picked)
                )
            # Every piece but the last is clipped and summed only; the last adds the
            # noise once, divides by the normalizer and steps.
            self.optimizer.signal_skip_step(do_skip=not last)
            self.optimizer.step()
            total += float(loss.detach())
        self._stepped()
        return total, len(idx)

    def _noise_only_step(self) -> None:
        """An empty Poisson batch: release noise alone (from the private generator)."""
        opt = self.optimizer
        std = opt.noise_multiplier * opt.max_grad_norm
        for p in opt.params:
            p.grad = self.random.normal(std, p) / opt.expected_batch_size
        opt.original_optimizer.step()
        self._stepped()

    def _stepped(self) -> None:
        """After a step: account it; the text cache is stale only if the text tower moved."""
        sigma, q = self.noise_multiplier, self.sample_rate
        if self._history and self._history[-1][:2] == (sigma, q):
            self._history[-1] = (sigma, q, self._history[-1][2] + 1)
        else:
            self._history.append((sigma, q, 1))
        if self.text_trains:
            self.cm.mark_stale()

    @property
    def steps_per_epoch(self) -> int:
        return self.mechanism.steps_per_epoch

    def history(self) -> History:
        """The accountant's whole history (JSON-friendly): what to persist between rounds."""
        return list(self._history)

    def epsilon_after(self, extra_steps: int) -> float:
        """ε if ``extra_steps`` more steps were taken now (for budget checks)."""
        mechanism = (self.noise_multiplier, self.sample_rate, extra_steps)
        return epsilon_of([*self._history, mechanism], self.delta)

    def epsilon_alone(self, steps: int) -> float:
        """ε of ``steps`` steps on their own (one round's spend, for the ledger)."""
        return epsilon_of([(self.noise_multiplier, self.sample_rate, steps)], self.delta)

    def spend(self, steps: int) -> PrivacySpend:
        """The mechanism and ε after a round of ``steps`` steps (0: a declined round)."""
        return PrivacySpend(
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.mechanism.max_grad_norm,
            sample_rate=self.sample_rate,
            delta=self.delta,
            records=self.mechanism.population,
            steps=steps,
            epsilon=self.epsilon_after(0),
            epsilon_round=self.epsilon_alone(steps),
        )

    def ledger_entry(self, server_round: int, client: int, steps: int) -> LedgerEntry:
        """This trainer's line of the privacy ledger after a round of ``steps`` steps."""
        return self.spend(steps).entry(
            server_round, client, self.privacy.privacy_mode, self.unit, self.mechanism.randomness
        )

    def close(self) -> None:
        """Remove the per-sample gradient hooks (and any audit canaries) from the model."""
        self.module._close()
        if self.canaries is not None and AUDIT_PARAM in self.cm.model._modules:
            del self.cm.model._modules[AUDIT_PARAM]

    def report(self) -> PrivacyReport:
        return PrivacyReport(
            mode=self.privacy.privacy_mode,
            unit=self.unit,
            epsilon=self.epsilon_after(0),
            delta=self.delta,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.mechanism.max_grad_norm,
            sample_rate=self.sample_rate,
            steps=sum(int(h[2]) for h in self._history),
            records=self.mechanism.population,
            accountant=ACCOUNTANT,
            randomness=self.mechanism.randomness,
        )


def trainer_for(
    cm: CatalogModel,
    train: pd.DataFrame,
    cfg: Config,
    *,
    epochs: int,
    rng: np.random.Generator,
    population: int | None = None,
    **kwargs: object,
) -> DPSGDTrainer:
    """A DP-SGD trainer over ``train`` (one data holder) with the mechanism ``cfg`` gives
    for ``epochs`` epochs; ``population`` (N for δ) defaults to its own records."""
    records = count_records(train, cfg.train.privacy_unit, cfg.privacy.dp_window)
    mechanism = resolve_local_mechanism(
        cfg, population=population or records, records_per_client=records, epochs=epochs
    )
    return DPSGDTrainer(
        cm,
        dp_rows(train, cfg.data.max_history, mechanism),
        cfg.train,
        cfg.privacy,
        mechanism,
        rng=rng,
        **kwargs,  # type: ignore[arg-type]
    )

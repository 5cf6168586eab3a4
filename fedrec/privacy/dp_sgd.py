"""DP-SGD with Opacus for the two-tower recommender.

Guarantee: (ε, δ)-differential privacy of the trained trainable state (and of
everything computed from it) with respect to one *privacy unit* of the training
data, against anyone who sees that state: the server and the public model when
this runs on a client, the public model when it runs centrally.

- ``privacy-unit = interaction``: a record is one interaction (example-level DP;
  a user with n interactions is protected only as a group of n).
- ``privacy-unit = user``: a record is one user. Users are Poisson-sampled with
  rate q; a sampled user contributes one of its interactions, drawn at random,
  so its whole history moves any step's clipped gradient by at most the
  clipping norm.

δ is the probability with which the ε bound may fail; it must be well below
1/N for N records (default: 1/(10 N)).

Mechanism: Poisson sampling, per-sample gradients (Opacus hooks on the head and
ID layers, and on LoRA with ``dp-text = trained``; see
:func:`~fedrec.training.per_example.per_example_loss`), flat
clipping to ``max-grad-norm``, Gaussian noise of ``noise-multiplier`` times
the clipping norm, RDP accounting. Steps with an empty batch still add noise and
are still accounted. A Poisson batch larger than ``dp-physical-batch`` is run
in pieces whose clipped gradients are summed before the one noisy step (what
Opacus's ``BatchMemoryManager`` does), so memory is bounded and the mechanism
is unchanged.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from opacus import PrivacyEngine
from torch.utils.data import DataLoader, TensorDataset
from tqdm.auto import tqdm

from fedrec.config import PrivacyConfig, TrainConfig
from fedrec.errors import ConfigError
from fedrec.models.catalog_model import CatalogModel
from fedrec.privacy.calibration import (
    ACCOUNTANT,
    calibrate_noise,
    rdp_epsilon_of,
    resolve_delta,
)
from fedrec.privacy.empirical import GradientCanaries
from fedrec.privacy.ledger import LedgerEntry, PrivacySpend
from fedrec.training.per_example import per_example_loss
from fedrec.training.rows import TrainingRows
from fedrec.training.trainer import EpochStats, make_optimizer

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
    records: int
    accountant: str

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class DPSGDTrainer:
    """Trains ``cm`` with DP-SGD over ``rows``, one epoch at a time."""

    def __init__(
        self,
        cm: CatalogModel,
        rows: TrainingRows,
        train: TrainConfig,
        privacy: PrivacyConfig,
        *,
        epochs: int,
        rng: np.random.Generator,
        accountant_history: list[tuple[float, float, int]] | None = None,
        canaries: int = 0,
    ) -> None:
        """``accountant_history`` restores earlier spending (a client's past rounds):
        it is loaded before the engine wraps anything, so ε composes over all of it."""
        self.cm, self.rows, self.train_cfg, self.privacy = cm, rows, train, privacy
        self.rng = rng
        self.unit = train.privacy_unit
        self.records = len(rows.owner_start) if self.unit == "user" else len(rows)
        if self.records == 0:
            raise ConfigError("DP-SGD needs at least one training record.")
        self.delta = resolve_delta(privacy.delta, self.records, f"{self.unit} records")
        batch = min(train.batch_size, self.records)
        # What Opacus's Poisson loader will do: ceil(N / batch) steps per epoch, each
        # record sampled with rate 1 / steps. Calibrate the noise on exactly that.
        steps_per_epoch = math.ceil(self.records / batch)
        noise = privacy.noise_multiplier
        if privacy.target_epsilon > 0:
            noise = calibrate_noise(
                privacy.target_epsilon, self.delta, 1.0 / steps_per_epoch, steps_per_epoch * epochs
            )
        try:
            self.engine = PrivacyEngine(accountant=ACCOUNTANT, secure_mode=privacy.secure_mode)
        except ImportError as err:
            raise ConfigError(
                f"secure-mode=true needs torchcsprng, which is not installed ({err}); install it "
                "for this PyTorch, or set secure-mode=false."
            ) from None
        if accountant_history:
            self.engine.accountant.history = [
                (float(s), float(q), int(n)) for s, q, n in accountant_history
            ]
        loader = DataLoader(TensorDataset(torch.arange(self.records)), batch_size=batch)
        # With dp-text=frozen the LoRA text tower is not part of the DP optimizer: it never
        # enters the loss, so it gets no gradient, no noise, and stays as it came (and the
        # catalog's text cache stays valid across steps).
        self.text_trains = privacy.dp_text == "trained"
        optimizer = make_optimizer(cm, train, text_tower=self.text_trains)
        # Dirac canaries for the empirical audit (fedrec.privacy.empirical); none in training.
        self.canaries = (
            GradientCanaries(canaries, privacy.max_grad_norm, rng, cm.device) if canaries else None
        )
        if self.canaries is not None:  # a parameter of the model while the audit runs
            cm.model.add_module(AUDIT_PARAM, self.canaries.layer)
            optimizer.add_param_group({"params": [self.canaries.param], "weight_decay": 0.0})
        cm.model.train()  # Opacus wraps only a model in training mode
        self.module, self.optimizer, self.loader = self.engine.make_private(
            module=cm.model,
            optimizer=optimizer,
            data_loader=loader,
            noise_multiplier=noise,
            max_grad_norm=privacy.max_grad_norm,
            poisson_sampling=True,
            grad_sample_mode="hooks",
        )
        self.noise_multiplier = float(noise)
        self.sample_rate = float(self.loader.sample_rate)
        self.physical_batch = physical_batch_size(
            privacy.dp_physical_batch,
            sum(p.numel() * p.element_size() for p in self.optimizer.params),
            cm.device,
        )

    def _rows_of(self, units: torch.Tensor) -> np.ndarray:
        units_np = units.cpu().numpy()
        if self.unit == "user":
            offset = (self.rng.random(len(units_np)) * self.rows.owner_count[units_np]).astype(
                np.int64
            )
            return self.rows.owner_start[units_np] + offset
        return units_np

    def epoch(self, *, progress: bool = False, desc: str = "DP-SGD") -> EpochStats:
        cm = self.cm
        cm.ensure_fresh()
        cm.model.train()
        device = cm.device
        k = self.privacy.dp_negatives
        start, total, seen = time.perf_counter(), 0.0, 0
        for (units,) in tqdm(self.loader, desc=desc, disable=not progress, leave=False):
            self.optimizer.zero_grad(set_to_none=True)
            chosen = self.canaries.sample(self.sample_rate) if self.canaries else []
            if len(units) == 0:  # Poisson sampling picked nobody: the step still happens
                if len(chosen):
                    self.canaries.append(chosen, self.optimizer.params, 0)  # type: ignore[union-attr]
                    self.optimizer.step()
                    self._stepped()
                else:
                    self._noise_only_step()
                continue
            idx = self._rows_of(units)
            negatives = self.rng.integers(0, cm.n_items, size=(len(idx), k))
            pieces = np.array_split(np.arange(len(idx)), math.ceil(len(idx) / self.physical_batch))
            for j, piece in enumerate(pieces):
                last = j == len(pieces) - 1
                if j:  # keeps the clipped sum of the earlier pieces (Opacus: summed_grad)
                    self.optimizer.zero_grad(set_to_none=True)
                picked = idx[piece]
                loss = per_example_loss(
                    cm,
                    torch.as_tensor(self.rows.users[picked], device=device),
                    torch.as_tensor(self.rows.targets[picked], device=device),
                    torch.as_tensor(self.rows.history[picked], device=device),
                    torch.as_tensor(negatives[piece], device=device),
                    text=self.privacy.dp_text,
                )
                loss.backward()
                if self.canaries is not None:  # the step's canaries join its last piece
                    self.canaries.append(
                        chosen if last else chosen[:0], self.optimizer.params, len(picked)
                    )
                # Every piece but the last is clipped and summed only; the last adds the
                # noise once, scales by the expected batch size and steps (and is accounted).
                self.optimizer.signal_skip_step(do_skip=not last)
                self.optimizer.step()
                total += float(loss.detach()) * len(picked)
            self._stepped()
            seen += len(idx)
        cm.model.eval()
        return EpochStats(total / max(seen, 1), seen, time.perf_counter() - start)

    def _noise_only_step(self) -> None:
        """An empty Poisson batch: release noise alone, and account for the step."""
        opt = self.optimizer
        std = opt.noise_multiplier * opt.max_grad_norm
        for p in opt.params:
            p.grad = torch.normal(0.0, std, p.shape, device=p.device) / opt.expected_batch_size
        opt.original_optimizer.step()
        self.engine.accountant.step(
            noise_multiplier=opt.noise_multiplier, sample_rate=self.sample_rate
        )
        self._stepped()

    def _stepped(self) -> None:
        """After a step: the text cache is stale only if the text tower moved."""
        if self.text_trains:
            self.cm.mark_stale()

    @property
    def steps_per_epoch(self) -> int:
        return len(self.loader)

    def history(self) -> list[tuple[float, float, int]]:
        """The accountant's whole history (JSON-friendly): what to persist between rounds."""
        return [(float(s), float(q), int(n)) for s, q, n in self.engine.accountant.history]

    def epsilon_after(self, extra_steps: int) -> float:
        """ε if ``extra_steps`` more steps were taken now (for budget checks)."""
        mechanism = (self.noise_multiplier, self.sample_rate, extra_steps)
        return rdp_epsilon_of([*self.history(), mechanism], self.delta)

    def epsilon_alone(self, steps: int) -> float:
        """ε of ``steps`` steps on their own (one round's spend, for the ledger)."""
        return rdp_epsilon_of([(self.noise_multiplier, self.sample_rate, steps)], self.delta)

    def spend(self, steps: int) -> PrivacySpend:
        """The mechanism and ε after a round of ``steps`` steps (0: a declined round)."""
        return PrivacySpend(
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.privacy.max_grad_norm,
            sample_rate=self.sample_rate,
            delta=self.delta,
            records=self.records,
            steps=steps,
            epsilon=self.epsilon_after(0),
            epsilon_round=self.epsilon_alone(steps),
        )

    def ledger_entry(self, server_round: int, client: int, steps: int) -> LedgerEntry:
        """This trainer's line of the privacy ledger after a round of ``steps`` steps."""
        return self.spend(steps).entry(server_round, client, self.privacy.privacy_mode, self.unit)

    def close(self) -> None:
        """Remove the per-sample gradient hooks (and any audit canaries) from the model."""
        self.module._close()
        if self.canaries is not None and AUDIT_PARAM in self.cm.model._modules:
            del self.cm.model._modules[AUDIT_PARAM]

    def report(self) -> PrivacyReport:
        return PrivacyReport(
            mode=self.privacy.privacy_mode,
            unit=self.unit,
            epsilon=float(self.engine.get_epsilon(self.delta)),
            delta=self.delta,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.privacy.max_grad_norm,
            sample_rate=self.sample_rate,
            steps=sum(int(h[2]) for h in self.engine.accountant.history),
            records=self.records,
            accountant=ACCOUNTANT,
        )

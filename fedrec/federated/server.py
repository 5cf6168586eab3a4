"""What the server does between rounds, with no knowledge of Flower.

:class:`ServerRuntime` owns the run directory: it makes the initial global
state, evaluates the global model on the held-out split (validation and the
full test slices every ``server-eval-every`` rounds; validation every round
without DP, where it picks the model kept), appends one
record per round to ``metrics.jsonl``, checkpoints the state every round so
``fedrec simulate --resume`` can continue, and writes the final summary in the
same structure as a centralized run, plus ``federation``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import numpy as np
import torch

from fedrec.config import Config
from fedrec.data.loading import prepare_split
from fedrec.device import pick_device
from fedrec.evaluation.baselines import zero_shot_vectors
from fedrec.evaluation.harness import evaluate_cases
from fedrec.federated.partition import check_partition
from fedrec.files import atomic_write_json, atomic_write_text
from fedrec.models.catalog_model import build_catalog_model
from fedrec.models.state import load_trainable_state, trainable_state
from fedrec.plots import plot_curves
from fedrec.privacy.ledger import PrivacyLedger
from fedrec.privacy.mechanism import (
    LocalMechanism,
    count_records,
    extend_mechanism,
    resolve_local_mechanism,
)
from fedrec.runs.rundir import RunDir
from fedrec.runs.summary import NO_PRIVACY, build_summary, plot_click_curves

log = logging.getLogger(__name__)

CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_INFO = "checkpoint.json"
MECHANISM = "mechanism.json"


class ServerRuntime:
    """Global model, evaluation, checkpoints and the run directory of a federated run."""

    def __init__(self, cfg: Config, run: RunDir, *, progress: bool = True) -> None:
        self.cfg = cfg
        self.run = run
        self.progress = progress
        torch.manual_seed(cfg.train.seed)
        self.split = prepare_split(cfg)
        # Configurations that cannot work fail here, before any client trains.
        self.num_clients = check_partition(
            self.split, cfg.federation.partition, cfg.federation.num_clients
        )
        device = pick_device(cfg.train.device, cfg.train.threads)
        self.cm = build_catalog_model(self.split, cfg.model, cfg.data, device)
        self.zs = zero_shot_vectors(self.cm, self.split)
        self.k = cfg.eval.k
        self.best: tuple[float, int] = (-1.0, 0)
        self.started = time.perf_counter()

    # -- state -------------------------------------------------------------------------
    def initial_state(self) -> dict[str, torch.Tensor]:
        return trainable_state(self.cm.model)

    @property
    def has_item_bias(self) -> bool:
        return self.cm.model.item_bias is not None

    def with_popularity_prior(
        self, state: dict[str, torch.Tensor], counts: np.ndarray
    ) -> dict[str, torch.Tensor]:
        """``state`` with the item bias started from a popularity histogram."""
        load_trainable_state(self.cm.model, state)
        self.cm.model.set_popularity_prior(torch.as_tensor(counts, dtype=torch.float32))
        self.cm.mark_stale()
        return trainable_state(self.cm.model)

    def checkpoint(
        self,
        server_round: int,
        state: dict[str, torch.Tensor],
        ledger: PrivacyLedger | None = None,
    ) -> None:
        """Save the global state after ``server_round`` (atomic: state first, then the round)."""
        self.run.save_state(state, CHECKPOINT)
        info: dict[str, Any] = {
            "round": server_round,
            "best_ndcg": self.best[0],
            "best_round": self.best[1],
        }
        if ledger is not None:  # what the ledger held: the audit finds lines cut after it
            info |= {"ledger_lines": ledger.count, "ledger_head": ledger.head}
        atomic_write_json(self.run.path / CHECKPOINT_INFO, info, indent=None)

    def resume_point(self) -> tuple[int, dict[str, torch.Tensor]] | None:
        """(last finished round, its state) if the run directory holds a checkpoint."""
        info_path = self.run.path / CHECKPOINT_INFO
        if not info_path.exists():
            return None
        info = json.loads(info_path.read_text())
        self.best = (float(info["best_ndcg"]), int(info["best_round"]))
        saved = self.run.load_state(CHECKPOINT)
        # In the model's own order (the file keeps its keys sorted): Flower's client-side
        # clipping checks that a reply's tensors come in the order they were sent.
        order = [name for name, p in self.cm.model.named_parameters() if p.requires_grad]
        state = {name: saved[name] for name in order if name in saved}
        state |= {name: value for name, value in saved.items() if name not in state}
        return int(info["round"]), state

    def local_mechanism(self, *, rounds_done: int = 0) -> LocalMechanism:
        """Local DP's public mechanism for this run, fixed before any client trains (and
        kept in ``mechanism.json``): on a resume the saved one, with σ for the rounds left
        when the run now goes on longer."""
        cfg, fed = self.cfg, self.cfg.federation
        path = self.run.path / MECHANISM
        epochs = fed.num_server_rounds * fed.local_epochs
        if rounds_done and path.is_file():
            mechanism = extend_mechanism(
                LocalMechanism.from_json(path.read_text(encoding="utf-8")),
                cfg,
                epochs_done=rounds_done * fed.local_epochs,
                epochs_total=epochs,
            )
        else:
            population = count_records(
                self.split.train, cfg.train.privacy_unit, cfg.privacy.dp_window
            )
            mechanism = resolve_local_mechanism(
                cfg,
                population=population,
                records_per_client=population / self.num_clients,
                epochs=epochs,
            )
        atomic_write_text(path, mechanism.to_json() + "\n")
        return mechanism

    # -- evaluation --------------------------------------------------------------------
    def evaluate(self, server_round: int, state: dict[str, torch.Tensor]) -> dict[str, Any]:
        """Validation and the full test slices every ``server-eval-every`` rounds (and at
        round 0 and the last). Without DP validation runs every round: it chooses the
        round whose model is kept; under DP the last round's is kept, whatever it scores."""
        every = self.cfg.federation.server_eval_every
        due = server_round % every == 0 or server_round == self.cfg.federation.num_server_rounds
        if not due and self.cfg.privacy.privacy_mode != "off":
            return {}
        load_trainable_state(self.cm.model, state)
        self.cm.mark_stale()
        scorer = self.cm.score_all
        val = evaluate_cases(
            scorer,
            self.split.valid,
            self.split,
            k=self.k,
            item_vectors=self.zs.items,
            seed=self.cfg.train.seed,
        )
        out: dict[str, Any] = {f"val_{k}": v for k, v in val.items()}
        key = f"ndcg@{self.k}"
        if val[key] > self.best[0]:
            self.best = (val[key], server_round)
            if self.cfg.privacy.privacy_mode == "off":
                self.run.save_state(state)
        if due:
            test = evaluate_cases(
                scorer,
                self.split.test,
                self.split,
                k=self.k,
                item_vectors=self.zs.items,
                seed=self.cfg.train.seed,
            )
            out.update({f"test_{k}": v for k, v in test.items()})
        return out

    def record(self, entry: dict[str, Any]) -> None:
        self.run.append_metrics(entry)

    # -- the end -----------------------------------------------------------------------
    def finish(
        self, final_state: dict[str, torch.Tensor], federation: dict[str, Any]
    ) -> dict[str, Any]:
        """Evaluate the chosen global state on every slice; write summary and plots.

        Without DP the best-validation round is chosen; with DP the final round is,
        since choosing by (private) validation data would spend unaccounted privacy.
        """
        private = self.cfg.privacy.privacy_mode != "off"
        saved = (self.run.path / "state.safetensors").exists()
        best_state = self.run.load_state() if saved and not private else final_state
        if private:
            self.run.save_state(final_state)
        load_trainable_state(self.cm.model, best_state)
        self.cm.mark_stale()
        records = self.run.read_metrics()
        key = f"val_ndcg@{self.k}"
        curve = [r[key] for r in records if key in r and r.get("round", 0) > 0]
        summary = build_summary(
            self.cm,
            self.split,
            self.cfg,
            self.zs,
            validation={"best_round": self.best[1], f"ndcg@{self.k}": self.best[0], "curve": curve},
            run=("federation", federation | {"clients": self.num_clients}),
            privacy=self._privacy_summary(),
        )
        summary["federation"]["wall_seconds"] = time.perf_counter() - self.started
        self.run.write_summary(summary)
        self._plot(records, summary["baselines"])
        plot_click_curves(summary, self.run.path, self.k)
        return summary

    def _privacy_summary(self) -> dict[str, Any]:
        """The worst client's guarantee, from the ledger (every client's last line)."""
        if self.cfg.privacy.privacy_mode == "off":
            return dict(NO_PRIVACY)
        last: dict[int, dict[str, Any]] = {}
        steps: dict[int, int] = {}
        for line in PrivacyLedger(self.run.path).read():
            last[line["client"]] = line
            steps[line["client"]] = steps.get(line["client"], 0) + int(line["steps"])
        if not last:
            return {"mode": self.cfg.privacy.privacy_mode, "epsilon": 0.0, "clients": {}}
        worst = max(last.values(), key=lambda e: e["epsilon"])
        out = {
            "mode": self.cfg.privacy.privacy_mode,
            "unit": self.cfg.train.privacy_unit,
            "epsilon": worst["epsilon"],
            "delta": max(e["delta"] for e in last.values()),
            "noise_multiplier": worst["noise_multiplier"],
            "max_grad_norm": worst["max_grad_norm"],
            "sample_rate": worst["sample_rate"],
            "steps": steps[worst["client"]],
            "accountant": worst.get("accountant", "rdp"),
            "clients": {str(c): e["epsilon"] for c, e in sorted(last.items())},
        }
        if self.cfg.privacy.privacy_mode == "central":
            out["unit"] = "client"
            out["epsilon_unsampled"] = max(e["epsilon_unsampled"] for e in last.values())
            out["releases"] = steps[worst["client"]]
            out["secure_aggregation"] = self.cfg.privacy.secure_aggregation
        return out

    def _plot(self, records: list[dict[str, Any]], baselines: dict[str, Any]) -> None:
        key = f"ndcg@{self.k}"
        rounds = [r for r in records if f"val_{key}" in r]
        if not rounds:
            return
        curves = {f"global val {key}": [r[f"val_{key}"] for r in rounds]}
        tested = [r for r in rounds if f"test_{key}" in r]
        if len(tested) == len(rounds):
            curves[f"global test {key}"] = [r[f"test_{key}"] for r in rounds]
        plot_curves(
            self.run.path / "rounds.png",
            [r["round"] for r in rounds],
            curves,
            xlabel="round",
            ylabel=key,
            title="Global model over federated rounds",
            references={
                f"popularity test {key}": baselines.get("popularity", {}).get("test", {}).get(key)
            },
        )

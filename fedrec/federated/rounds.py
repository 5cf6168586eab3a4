"""The federated round loop, with no knowledge of Flower.

Each round: pick the clients (all, a seeded sample, or a Poisson sample under
central DP), send them the global trainable state, write the privacy ledger
lines of their replies, aggregate (or keep the state when fewer than
``min-replies`` came back), let the clients evaluate it on their own
validation cases, evaluate it on the server, log one record to
``metrics.jsonl`` and checkpoint. Clients that fail do not stop the round.
The clients are reached through a :class:`~fedrec.federated.protocol.Federation`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fedrec.config import Config
from fedrec.federated.protocol import EvalReply, Failure, Federation, State, TrainReply
from fedrec.federated.selection import poisson_select, select_nodes
from fedrec.federated.server import ServerRuntime
from fedrec.privacy import NOT_PRIVATE
from fedrec.privacy.central import CentralDP, CentralSpends
from fedrec.privacy.histogram import noised
from fedrec.privacy.ledger import PrivacyLedger
from fedrec.privacy.mechanism import LocalMechanism, LocalSpends
from fedrec.privacy.randomness import PrivateRandomness, private_numpy_rng, reseed_numpy_global
from fedrec.runs.rundir import RunDir

log = logging.getLogger(__name__)


@dataclass
class _Totals:
    """What the summary's ``federation`` section averages over the rounds."""

    round_seconds: list[float] = field(default_factory=list)
    client_seconds: list[float] = field(default_factory=list)
    phases: dict[str, list[float]] = field(default_factory=dict)
    sent: list[float] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    rounds_run: int = 0

    def add(self, entry: dict[str, Any]) -> None:
        for key in PHASES:
            if entry.get(key) is not None:
                self.phases.setdefault(key, []).append(float(entry[key]))


#: Where a round's wall time goes (``metrics.jsonl`` keys; the summary gives their means).
#: ``overhead_per_client_seconds`` is the framework's share of the training phase per
#: sampled client: (phase wall x workers - the clients' own training time) / clients. It
#: is known only where replies carry the clients' training time (not under local DP).
PHASES = (
    "train_phase_seconds",
    "client_train_seconds",
    "overhead_per_client_seconds",
    "aggregate_seconds",
    "client_eval_phase_seconds",
    "server_eval_seconds",
)


class RoundLoop:
    """Train, aggregate, evaluate, checkpoint, round after round."""

    def __init__(self, federation: Federation, cfg: Config, run: RunDir) -> None:
        self.fed, self.cfg, self.run = federation, cfg, run
        self.server = ServerRuntime(cfg, run)
        self.mode = cfg.privacy.privacy_mode
        self.ledger = PrivacyLedger(run.path) if self.mode != "off" else None
        self.exhausted: set[int] = set()
        self.totals = _Totals()
        self.central: CentralDP | None = None
        self.spends: CentralSpends | None = None
        self.local: LocalMechanism | None = None
        self.local_spends: LocalSpends | None = None

    def run_all(self, *, resume: bool = False) -> dict[str, Any]:
        """Every round from the start (or the last checkpoint); returns the summary."""
        cfg, server = self.cfg, self.server
        if self.mode == "off":
            log.warning(NOT_PRIVATE + " Client updates leave clients unprotected.")
        state, start_round = server.initial_state(), 0
        point = server.resume_point() if resume else None
        self.run.write_kind("federated")
        self.run.write_config(cfg)  # on resume too: it may run longer than first planned
        if point is not None:
            start_round, state = point
            log.info("resuming after round %d", start_round)
        self.nodes = self.fed.connect(server.num_clients)
        if self.mode == "central":
            assert self.ledger is not None
            self.spends = CentralSpends(self.ledger, self.fed.partitions(self.nodes))
            self.central = CentralDP.from_config(
                cfg, len(self.nodes), self.spends.releases, rounds_done=start_round
            )
        elif self.mode == "local":
            assert self.ledger is not None
            self.local = server.local_mechanism(rounds_done=start_round)
            self.local_spends = LocalSpends(self.ledger, self.mode)
            if resume:  # stopped before its first checkpoint too: a histogram, a round
                self._catch_up(start_round + 1)
        self.fed.begin(self.central, self.local)
        if point is None:
            entry: dict[str, Any] = {"round": 0}
            state = self._popularity_prior(state, entry)
            server.record({**entry, **server.evaluate(0, state)})
        self.totals.rounds_run = start_round
        for rnd in range(start_round + 1, cfg.federation.num_server_rounds + 1):
            chosen = self._choose(rnd)
            if chosen is None:
                break
            state = self._round(rnd, chosen, state)
        return server.finish(state, self._federation_facts())

    def _catch_up(self, rnd: int) -> None:
        """On a resume, the ledger lines of spends the clients' own accountants hold and
        the ledger lacks (the round the run was stopped in), where the accountants are
        on this machine (a simulation's ``client-state/``; a deployment's nodes keep
        theirs, and their last release, themselves)."""
        from fedrec.federated.client_state import load_history, simulated_state_dir, state_files

        assert self.local is not None and self.local_spends is not None
        where = simulated_state_dir(self.cfg.federation.client_state_dir, self.run.path)
        for client, path in state_files(where):
            steps = self.local_spends.catch_up(self.local, rnd, client, load_history(path) or [])
            if steps:
                log.warning(
                    "client %d spent %d DP-SGD steps in round %d before the run stopped; "
                    "they are in the ledger now, beside the round asked again",
                    client,
                    steps,
                    rnd,
                )

    def _popularity_prior(self, state: State, entry: dict[str, Any]) -> State:
        """Before round 1: every client's popularity histogram (noised and accounted under
        DP), summed, becomes the starting item bias (:mod:`fedrec.privacy.histogram`)."""
        if not self.cfg.model.popularity_prior or not self.server.has_item_bias:
            return state
        got = self.fed.histograms(self.nodes)
        for failure in got.failures:
            log.warning("popularity: client on node %s failed: %s", failure.node, failure.error)
        total = got.total if got.total is not None else np.zeros(self.server.split.n_items)
        if self.central is not None and self.spends is not None:
            # The server is trusted under central DP: it adds the noise once, to the sum.
            random = PrivateRandomness(torch.device("cpu"))
            total = noised(total, self.central.popularity_noise, random)
            entry["ledger_clients"] = self.spends.record_histogram(
                self.central, self.cfg.train.privacy_unit
            )
        elif self.local is not None and self.local_spends is not None:
            for client in got.sent:
                self.local_spends.record_histogram(self.local, client)
            entry["ledger_clients"] = sorted(got.sent)
        entry["popularity_clients"] = len(got.sent)
        return self.server.with_popularity_prior(state, total)

    def _choose(self, rnd: int) -> list[int] | None:
        """This round's clients, or None when the run must stop (budgets spent)."""
        budget = self.cfg.privacy.budget_epsilon
        available = [n for n in self.nodes if n not in self.exhausted]
        if not available:
            log.warning(
                "stopping before round %d: every client has spent its privacy budget "
                "(budget-epsilon=%g)",
                rnd,
                budget,
            )
            return None
        if self.central is None:
            fed = self.cfg.federation
            return select_nodes(available, fed.clients_per_round, self.cfg.train.seed, rnd)
        assert self.spends is not None
        releases = self.spends.releases
        if budget and self.central.epsilon_of([*releases, self.central.release()]) > budget:
            log.warning(
                "stopping before round %d: its release would take the model past "
                "budget-epsilon=%g (ε now %.3f)",
                rnd,
                budget,
                self.central.epsilon_of(releases),
            )
            return None
        # Secret sampling: the amplified ε holds only while nobody can replay who took part.
        return poisson_select(available, self.central.sample_rate, private_numpy_rng())

    def _round(self, rnd: int, chosen: list[int], state: State) -> State:
        t0 = time.perf_counter()
        replies, failed = self.fed.train(rnd, state, chosen) if chosen else ([], [])
        t_train = time.perf_counter() - t0
        declined = [r for r in replies if r.result.declined]
        ok = [r for r in replies if not r.result.declined]
        self.exhausted.update(r.node for r in declined)
        entry: dict[str, Any] = {
            "round": rnd,
            "clients": len(chosen),
            "replies": len(ok),
            "failures": [{"node": f.node, "error": f.error} for f in failed],
            "declined": [r.result.partition for r in declined],
        }
        ledger_clients = self._local_ledger(rnd, [*ok, *declined])
        if self.ledger is not None:
            entry["ledger_clients"] = sorted(ledger_clients)  # what `fedrec audit` expects
        for failure in failed:
            log.warning("round %d: client on node %s failed: %s", rnd, failure.node, failure.error)
        t_agg = time.perf_counter()
        state = self._aggregate(rnd, state, ok, entry)
        entry["train_phase_seconds"] = t_train
        entry["aggregate_seconds"] = time.perf_counter() - t_agg
        # Under local DP or secure aggregation replies carry no loss, time or count.
        if self.local is None and not any(r.result.masked for r in ok):
            entry.update(_weighted([(r.result.num_examples, _reply_report(r)) for r in ok]))
            entry["examples"] = int(sum(r.result.num_examples for r in ok))
            entry.update(self._overhead(t_train, [r.result.train_seconds for r in ok]))
        self.totals.sent += [float(r.bytes_sent) for r in ok]
        self.totals.received += [float(r.bytes_received) for r in ok]
        t_eval = time.perf_counter()
        evals, eval_failed = self._client_evaluation(rnd, state, chosen)
        entry["client_eval_phase_seconds"] = time.perf_counter() - t_eval
        entry.update(_federated_eval(evals))
        entry["eval_failures"] = [{"node": f.node, "error": f.error} for f in eval_failed]
        self._finish_round(rnd, state, entry, t0, ok, evals, len(chosen))
        return state

    def _client_evaluation(
        self, rnd: int, state: State, chosen: list[int]
    ) -> tuple[list[EvalReply], list[Failure]]:
        """The chosen clients' evaluation of the new state on their own validation cases,
        every ``client-eval-every`` rounds (and the last). Under local DP or secure
        aggregation never: their metrics would leave them unprotected, one by one; the
        server evaluates the global model."""
        fed = self.cfg.federation
        every = fed.client_eval_every
        due = every > 0 and (rnd % every == 0 or rnd == fed.num_server_rounds)
        silent = self.local is not None or self.cfg.privacy.secure_aggregation
        if silent or not due or not chosen:
            return [], []
        return self.fed.evaluate(rnd, state, chosen)

    def _overhead(self, wall: float, client_seconds: list[float]) -> dict[str, float]:
        """The training phase split: the clients' own training time (summed) and the
        framework's time per client, given how many clients train at once."""
        if not client_seconds:
            return {}
        busy = float(sum(client_seconds))
        workers = min(len(client_seconds), max(1, self.fed.workers or len(client_seconds)))
        return {
            "client_train_seconds": busy,
            "overhead_per_client_seconds": max(0.0, wall * workers - busy) / len(client_seconds),
        }

    def _local_ledger(self, rnd: int, replies: list[TrainReply]) -> list[int]:
        """Local DP: one ledger line per reply (declined rounds too), from the public
        mechanism and whether the client trained; the clients written."""
        if self.local is None or self.local_spends is None:
            return []
        clients = []
        for reply in replies:
            client = reply.result.partition
            self.local_spends.record(
                self.local,
                rnd,
                client,
                trained=not reply.result.declined,
                epochs=self.cfg.federation.local_epochs,
            )
            clients.append(client)
        return clients

    def _aggregate(
        self, rnd: int, state: State, ok: list[TrainReply], entry: dict[str, Any]
    ) -> State:
        if self.central is not None:
            assert self.spends is not None
            # Every round releases a noised aggregate, whoever replied (min-replies does not
            # apply: keeping the old state would reveal that nobody's update arrived).
            # A zero update adds nothing to the sum (and Flower cannot clip it).
            moved = [r for r in ok if r.result.masked or _moved(r.result.state, state)]
            reseed_numpy_global()  # Flower's wrapper draws the noise from numpy's generator
            agg = self.fed.aggregate(rnd, moved) if moved else None
            entry["aggregated"] = True
            entry["ledger_clients"] = self.spends.record(
                self.central, rnd, self.cfg.train.privacy_unit, {r.node for r in ok}
            )
            entry["epsilon"] = self.central.epsilon_of(self.spends.releases)
            return agg if agg is not None else self.fed.noise_only(state)
        if len(ok) >= self.cfg.federation.min_replies:
            agg = self.fed.aggregate(rnd, ok)
            entry["aggregated"] = True
            return agg if agg is not None else state
        log.warning(
            "round %d: %d replies < min-replies=%d; global state kept",
            rnd,
            len(ok),
            self.cfg.federation.min_replies,
        )
        entry["aggregated"] = False
        return state

    def _finish_round(
        self,
        rnd: int,
        state: State,
        entry: dict[str, Any],
        t0: float,
        ok: list[TrainReply],
        evals: list[EvalReply],
        chosen: int,
    ) -> None:
        wall = time.perf_counter() - t0
        busy = sum(r.result.train_seconds for r in ok) + sum(e.result.eval_seconds for e in evals)
        t_eval = time.perf_counter()
        entry.update(self.server.evaluate(rnd, state))
        entry["server_eval_seconds"] = time.perf_counter() - t_eval
        entry["round_seconds"] = wall
        entry["client_seconds"] = busy
        self.totals.round_seconds.append(wall)
        self.totals.client_seconds.append(busy)
        self.totals.add(entry)
        self.server.record(entry)
        self.server.checkpoint(rnd, state, self.ledger)
        self.totals.rounds_run = rnd
        log.info(
            "round %d: %d/%d clients, val ndcg %.4f, %.1fs",
            rnd,
            len(ok),
            chosen,
            entry.get(f"val_ndcg@{self.cfg.eval.k}", float("nan")),
            wall,
        )

    def _federation_facts(self) -> dict[str, Any]:
        fed, t = self.cfg.federation, self.totals

        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else 0.0

        return {
            "rounds": t.rounds_run,
            "strategy": fed.strategy,
            "partition": fed.partition,
            "clients_per_round": fed.clients_per_round or self.server.num_clients,
            "bytes_sent_per_client_round": mean(t.sent),
            "bytes_received_per_client_round": mean(t.received),
            "round_seconds_mean": mean(t.round_seconds),
            "client_seconds_mean": mean(t.client_seconds),
            "workers": self.fed.workers,
            **{key.replace("_seconds", "_seconds_mean"): mean(v) for key, v in t.phases.items()},
        }


def run_federation(
    federation: Federation, cfg: Config, run: RunDir, *, resume: bool = False
) -> dict[str, Any]:
    """The whole federated run over ``federation``; returns the summary."""
    run.path.mkdir(parents=True, exist_ok=True)
    return RoundLoop(federation, cfg, run).run_all(resume=resume)


def _moved(new: State | None, sent: State) -> bool:
    return new is not None and any(not torch.equal(new[k], sent[k]) for k in sent)


def _reply_report(reply: TrainReply) -> dict[str, float]:
    return {
        **reply.result.report(),
        "bytes_received": float(reply.bytes_received),
        "bytes_sent": float(reply.bytes_sent),
    }


def _weighted(reports: list[tuple[int, dict[str, float]]]) -> dict[str, float]:
    """Example-weighted mean of every value the reports share (zero weights skipped)."""
    weights = np.array([float(w) for w, _ in reports])
    if not reports or weights.sum() <= 0:
        return {}
    keys = set.intersection(*(set(r) for _, r in reports))
    return {k: float(np.average([r[k] for _, r in reports], weights=weights)) for k in sorted(keys)}


def _federated_eval(evals: list[EvalReply]) -> dict[str, float]:
    """The clients' own validation metrics, example-weighted, as ``fed_*`` keys."""
    reports = [
        (e.result.num_examples, {**e.result.metrics, "eval_seconds": e.result.eval_seconds})
        for e in evals
    ]
    return {"fed_" + k: v for k, v in _weighted(reports).items()}


__all__ = ["EvalReply", "Failure", "RoundLoop", "run_federation"]

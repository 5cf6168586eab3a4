"""Central (client-level) DP for federated averaging: settings and accounting.

Mechanism (DP-FedAvg, McMahan et al. 2018): each round every client is
sampled independently with probability ``q = clients-per-round / num-clients``
(Poisson); each sampled client's update (new state minus global state) is
clipped to L2 norm ``C`` (on the client or on the server); the server adds
``N(0, (σ·C)²)`` to the sum and divides by the *expected* number of clients
``q·N``, whoever replied. A round in which nobody is sampled still releases
noise. The clipping and noise are Flower's DP strategy wrappers.

What it protects (the unit is a client, i.e. all of its data; one user when
each client is one user's device):

- ``epsilon``: against anyone who sees only the released global models, who
  does not learn which clients were sampled. Poisson sampling amplifies:
  every round spends every client's privacy a little, sampled or not.
- ``epsilon_unsampled``: against anyone who also knows who took part in each
  round (the server's logs, or a client that can tell it was sampled): no
  amplification, composed over the rounds the client was in.
- Nothing against the server itself: it receives each clipped update before
  the noise. Use local DP when the server is not trusted.

δ is the probability with which the bound may fail; it must stay below
1 / num-clients (default ``min(1e-5, num-clients^-1.1)``).

Who takes part in a round is drawn from OS randomness
(:func:`~fedrec.privacy.randomness.private_numpy_rng`), and the noise from
numpy's global generator re-seeded from the OS before every release: the
amplified ε holds only while the sampling is secret, and anyone with the config
could replay a seeded draw. Every release's ε is composed from the mechanisms
the ledger records (a resumed run that goes on longer picks σ for the rounds
left so that the whole run stays at its target, or is refused).
"""

from __future__ import annotations

from dataclasses import dataclass

from fedrec.config import Config
from fedrec.errors import ConfigError
from fedrec.privacy.calibration import (
    ACCOUNTANT,
    calibrate_remaining,
    epsilon_of,
    resolve_delta,
)
from fedrec.privacy.histogram import popularity_noise
from fedrec.privacy.histogram import release as histogram_release
from fedrec.privacy.ledger import LedgerEntry, PrivacyLedger
from fedrec.privacy.randomness import OS_SEEDED

History = list[tuple[float, float, int]]


@dataclass(frozen=True)
class CentralDP:
    noise_multiplier: float
    clipping_norm: float
    sample_rate: float
    expected_clients: int
    population: int
    delta: float
    popularity_noise: float = 0.0  # σ of the popularity histogram released first (0: none)

    @classmethod
    def from_config(
        cls,
        cfg: Config,
        population: int,
        spent: History | None = None,
        rounds_done: int = 0,
    ) -> CentralDP:
        """Settings for ``population`` clients; σ calibrated when ``target-epsilon`` is set,
        over the rounds left after ``rounds_done`` rounds whose releases (the popularity
        histogram among them) are ``spent`` already (a resumed run)."""
        privacy, fed = cfg.privacy, cfg.federation
        expected = fed.clients_per_round or population
        if expected > population:
            raise ConfigError(
                f"clients-per-round={expected} is more than the {population} clients: lower it."
            )
        q = expected / population
        delta = resolve_delta(privacy.delta, population, "clients")
        sigma = privacy.noise_multiplier
        histogram = 0.0
        if cfg.model.popularity_prior:
            histogram = popularity_noise(cfg, delta)
        before = list(spent) if spent else ([histogram_release(histogram)] if histogram else [])
        if privacy.target_epsilon > 0:
            left = max(fed.num_server_rounds - rounds_done, 0)
            sigma = calibrate_remaining(privacy.target_epsilon, delta, before, q, left)
        if sigma <= 0:
            raise ConfigError(
                "privacy-mode=central needs noise-multiplier > 0 or a target-epsilon."
            )
        return cls(float(sigma), privacy.max_grad_norm, q, expected, population, delta, histogram)

    def histogram_entry(
        self, client: int, unit: str, releases: History, participations: list[float]
    ) -> LedgerEntry:
        """One client's line for the popularity histogram (round 0, every client in it)."""
        return LedgerEntry(
            round=0,
            client=client,
            mode="central",
            unit=unit,
            noise_multiplier=self.popularity_noise,
            max_grad_norm=1.0,
            sample_rate=1.0,
            steps=1,
            delta=self.delta,
            records=self.population,
            epsilon_round=epsilon_of([histogram_release(self.popularity_noise)], self.delta),
            epsilon=self.epsilon_of(releases),
            epsilon_unsampled=epsilon_of([(s, 1.0, 1) for s in participations], self.delta),
            accountant=ACCOUNTANT,
            trained=True,
            randomness=OS_SEEDED,
        )

    def release(self) -> tuple[float, float, int]:
        """One round's release: ``(σ, q, 1)``."""
        return (self.noise_multiplier, self.sample_rate, 1)

    def epsilon(self, releases: int, delta: float | None = None) -> float:
        """ε of ``releases`` rounds at this σ (against observers of the released models)."""
        history = [(self.noise_multiplier, self.sample_rate, releases)]
        return epsilon_of(history, self.delta if delta is None else delta)

    def epsilon_of(self, history: History) -> float:
        """ε of the releases in ``history`` (each at its own σ)."""
        return epsilon_of(history, self.delta)

    def ledger_entry(
        self,
        server_round: int,
        client: int,
        unit: str,
        releases: History,
        participations: list[float],
        trained: bool,
    ) -> LedgerEntry:
        """One client's line for one release (``releases``: every release so far, this one
        included; ``participations``: the σ of each release the client was in)."""
        return LedgerEntry(
            round=server_round,
            client=client,
            mode="central",
            unit=unit,
            noise_multiplier=self.noise_multiplier,
            max_grad_norm=self.clipping_norm,
            sample_rate=self.sample_rate,
            steps=1,
            delta=self.delta,
            records=self.population,
            epsilon_round=self.epsilon(1),
            epsilon=self.epsilon_of(releases),
            epsilon_unsampled=epsilon_of([(s, 1.0, 1) for s in participations], self.delta),
            accountant=ACCOUNTANT,
            trained=trained,
            randomness=OS_SEEDED,
        )


class CentralSpends:
    """Central DP's running record (every release's mechanism, and the releases each client
    was in), restored from the ledger on resume, and the ledger lines of each release."""

    def __init__(self, ledger: PrivacyLedger, partitions: dict[int, int]) -> None:
        """``partitions`` maps each node id to its client (partition) id."""
        self.ledger, self.partitions = ledger, partitions
        lines = ledger.read()
        by_client: dict[int, list[dict[str, object]]] = {}
        for line in lines:
            by_client.setdefault(int(line["client"]), []).append(line)  # type: ignore[arg-type]
        longest = max(by_client.values(), key=len, default=[])
        self.releases: History = [
            (float(e["noise_multiplier"]), float(e["sample_rate"]), 1)  # type: ignore[arg-type]
            for e in longest
        ]
        self.participations = {
            c: [
                float(e["noise_multiplier"])  # type: ignore[arg-type]
                for e in by_client.get(c, [])
                if e["trained"]
            ]
            for c in partitions.values()
        }

    def record_histogram(self, dp: CentralDP, unit: str) -> list[int]:
        """Every client's line for the popularity histogram (round 0)."""
        self.releases.append(histogram_release(dp.popularity_noise))
        clients, entries = [], []
        for client in sorted(self.partitions.values()):
            self.participations[client].append(dp.popularity_noise)
            entries.append(
                dp.histogram_entry(client, unit, self.releases, self.participations[client])
            )
            clients.append(client)
        self.ledger.extend(entries)
        return clients

    def record(self, dp: CentralDP, rnd: int, unit: str, trained_nodes: set[int]) -> list[int]:
        """One line per client for this round's release; returns the clients written."""
        self.releases.append(dp.release())
        clients, entries = [], []
        for node, client in sorted(self.partitions.items(), key=lambda x: x[1]):
            trained = node in trained_nodes
            if trained:
                self.participations[client].append(dp.noise_multiplier)
            entries.append(
                dp.ledger_entry(
                    rnd, client, unit, self.releases, self.participations[client], trained
                )
            )
            clients.append(client)
        self.ledger.extend(entries)
        return clients

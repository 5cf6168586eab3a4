"""Checks of the ledger against what else the run left: the run log's list of who took
part in each round (and, for a centralized run, the ε it logged each epoch), and each
client's own accountant."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from fedrec.audit.lines import logged_epsilons
from fedrec.audit.recompute import Lines, close
from fedrec.audit.results import MAX_FINDINGS_PER_CLIENT, Finding
from fedrec.federated.client_state import CLIENT_STATE, load_history, state_files
from fedrec.privacy.accounting import steps_by_mechanism


def centralized_findings(run_dir: Path, entries: Lines, tolerance: float) -> list[Finding]:
    """A centralized run has no checkpoint of its ledger: each epoch's line must say the
    ε its run log recorded while training, and every epoch trains."""
    logged, found = logged_epsilons(run_dir), []
    for number, x in entries:
        rnd = x["round"]
        if rnd >= 1 and not x["trained"]:
            found.append(
                Finding(
                    "mismatch",
                    f"epoch {rnd}: a centralized run trains every epoch, but "
                    "the ledger says it did not",
                    line=number,
                    round=rnd,
                )
            )
        if rnd in logged and not close(float(x["epsilon"]), logged[rnd], tolerance):
            found.append(
                Finding(
                    "mismatch",
                    f"epoch {rnd}: the ledger says ε = {x['epsilon']:.6g}, the run log "
                    f"recorded {logged[rnd]:.6g} while training",
                    line=number,
                    round=rnd,
                )
            )
    return found


def missing_lines(
    entries: Lines, expected: dict[int, set[int]], mode: str, by_client: dict[int, Lines]
) -> list[Finding]:
    """Lines the run log says must exist, and (central DP) every client in every release."""
    found = []
    present: dict[int, set[int]] = defaultdict(set)
    for _, entry in entries:
        present[entry["round"]].add(entry["client"])
    for rnd in sorted(expected):
        for client in sorted(expected[rnd] - present.get(rnd, set())):
            found.append(
                Finding(
                    "missing",
                    f"round {rnd}: client {client} took part but the ledger has no line for it",
                    client=client,
                    round=rnd,
                )
            )
    if mode == "central" and entries:
        rounds_seen = sorted(present)
        for client in by_client:
            lacking = [r for r in rounds_seen if client not in present[r]]
            for rnd in lacking[:MAX_FINDINGS_PER_CLIENT]:
                found.append(
                    Finding(
                        "missing",
                        f"round {rnd}: client {client} has no line (under central DP every "
                        "release spends every client's privacy)",
                        client=client,
                        round=rnd,
                    )
                )
    return found


def accountant_findings(run_dir: Path, by_client: dict[int, Lines]) -> list[Finding]:
    """Each client's own accountant (``client-state/``) against its ledger lines: the
    steps spent at each (σ, q) must agree."""
    found = []
    for client, path in state_files(run_dir / CLIENT_STATE):
        try:
            own = steps_by_mechanism(load_history(path) or [])
        except (ValueError, TypeError, KeyError) as err:  # not JSON, or not an accountant
            found.append(
                Finding(
                    "malformed",
                    f"client {client}: its own accountant ({path.name}) cannot be read ({err})",
                    client=client,
                )
            )
            continue
        ledger = steps_by_mechanism(
            [
                (x["noise_multiplier"], x["sample_rate"], x["steps"])
                for _, x in by_client.get(client, [])
                if x["trained"]
            ]
        )
        if own != ledger:
            found.append(
                Finding(
                    "mismatch",
                    f"client {client}: its own accountant ({path.name}) spent "
                    f"{_spends(own)}, the ledger records {_spends(ledger)}",
                    client=client,
                )
            )
    return found


def _spends(steps: dict[tuple[float, float], int]) -> str:
    return ", ".join(f"{n} steps at σ={s:.4g}, q={q:.3g}" for (s, q), n in sorted(steps.items()))

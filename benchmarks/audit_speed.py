"""Time `fedrec audit` on a large synthetic ledger (default 1,000 clients x 100 rounds).

The ledger is honest: every line's ε is computed with Opacus's RDP accountant
(the training accountant), so the audit must pass. Clients come in ten groups
with different noise multipliers; one client in eleven declines a round now and
then. Prints the wall time of the audit in this process and of the whole
``fedrec audit`` command (a fresh process, imports included).

    python benchmarks/audit_speed.py [--clients 1000] [--rounds 100] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

from opacus.accountants import RDPAccountant

from fedrec.audit.ledger_audit import audit_run
from fedrec.privacy.ledger import LEDGER, line_hash

DELTA, RATE, STEPS = 1e-5, 0.02, 50


@cache
def _epsilon(history: tuple[tuple[float, float, int], ...]) -> float:
    if not history:
        return 0.0
    acc = RDPAccountant()
    acc.history = list(history)
    return float(acc.get_epsilon(DELTA))


def write_ledger(path: Path, clients: int, rounds: int) -> None:
    histories: dict[int, tuple[tuple[float, float, int], ...]] = {c: () for c in range(clients)}
    lines, log, prev = [], [], ""
    for rnd in range(1, rounds + 1):
        for c in range(clients):
            sigma = 0.8 + 0.1 * (c % 10)
            steps = 0 if (c % 11 == 0 and rnd % 7 == 0) else STEPS
            if steps:
                histories[c] = (*histories[c], (sigma, RATE, steps))
            lines.append(
                json.dumps(
                    {
                        "prev": prev,
                        "round": rnd,
                        "client": c,
                        "mode": "local",
                        "unit": "user",
                        "noise_multiplier": sigma,
                        "max_grad_norm": 1.0,
                        "sample_rate": RATE,
                        "steps": steps,
                        "delta": DELTA,
                        "records": 1000,
                        "epsilon_round": _epsilon(((sigma, RATE, steps),) if steps else ()),
                        "epsilon": _epsilon(histories[c]),
                        "epsilon_unsampled": None,
                        "accountant": "rdp",
                        "trained": bool(steps),
                        "randomness": "os",
                    }
                )
            )
            prev = line_hash(lines[-1])
        log.append(json.dumps({"round": rnd, "ledger_clients": list(range(clients))}))
    (path / LEDGER).write_text("\n".join(lines) + "\n")
    (path / "metrics.jsonl").write_text("\n".join(log) + "\n")
    (path / "config.toml").write_text('[fedrec]\nprivacy-mode = "local"\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="fedrec-audit-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    write_ledger(out, args.clients, args.rounds)
    print(
        f"ledger: {args.clients} clients x {args.rounds} rounds written in "
        f"{time.perf_counter() - t0:.1f}s ({(out / LEDGER).stat().st_size / 2**20:.1f} MiB)"
    )
    t0 = time.perf_counter()
    report = audit_run(out)
    in_process = time.perf_counter() - t0
    print(f"audit_run: {in_process:.2f}s, ok={report.ok}, findings={len(report.findings)}")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "fedrec", "audit", str(out)], capture_output=True, text=True
    )
    command = time.perf_counter() - t0
    print(
        f"fedrec audit (fresh process, report and plot written): {command:.2f}s, "
        f"exit code {proc.returncode}"
    )
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:])


if __name__ == "__main__":
    main()

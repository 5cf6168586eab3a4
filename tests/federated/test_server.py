"""The server runtime: checkpoints to resume from, and the guarantee read from the ledger."""

from __future__ import annotations

import torch

from fedrec.config import build_config
from fedrec.federated.server import ServerRuntime
from fedrec.privacy.ledger import PrivacyLedger, PrivacySpend
from fedrec.runs.rundir import RunDir


def test_a_checkpoint_is_what_a_resume_starts_from(tmp_path, fed_flat):
    server = ServerRuntime(build_config(fed_flat), RunDir(tmp_path).create())
    assert server.resume_point() is None
    state = {k: v + 1.0 for k, v in server.initial_state().items()}
    server.best = (0.25, 1)
    server.checkpoint(1, state)
    again = ServerRuntime(build_config(fed_flat), RunDir(tmp_path))
    rnd, restored = again.resume_point()
    assert rnd == 1 and again.best == (0.25, 1)
    assert all(torch.equal(restored[k], state[k]) for k in state)
    # In the order the state was sent (the file sorts its keys): Flower's client-side
    # clipping refuses a reply whose tensors come in another order than the request's.
    assert list(restored) == list(state) != sorted(state)


def test_the_privacy_summary_is_the_worst_clients_last_line(tmp_path, fed_flat):
    run = RunDir(tmp_path).create()
    server = ServerRuntime(build_config(fed_flat | {"privacy-mode": "local"}), run)
    ledger = PrivacyLedger(run.path)
    for rnd, (client, eps) in enumerate([(0, 1.0), (1, 2.0), (0, 3.0), (1, 2.5)], start=1):
        ledger.append(
            PrivacySpend(1.0, 1.0, 0.1, 1e-5, 100, 10, eps, 1.0).entry(
                rnd, client, "local", "user", "os"
            )
        )
    privacy = server._privacy_summary()
    assert privacy["epsilon"] == 3.0 and privacy["clients"] == {"0": 3.0, "1": 2.5}
    assert privacy["steps"] == 20  # the worst client's steps over every round

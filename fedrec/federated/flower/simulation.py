"""``fedrec simulate``: the ServerApp and ClientApp on simulated nodes.

``simulation-engine = "inline"`` (the default) runs both apps in this process
(:mod:`fedrec.federated.flower.inline`); ``"ray"`` runs them in Flower's
simulation engine, clients in parallel Ray workers.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from fedrec.config import Config
from fedrec.data.loading import prepare_split
from fedrec.device import cores
from fedrec.federated.client_state import simulated_state_dir
from fedrec.federated.flower.client_app import make_client_app
from fedrec.federated.flower.inline import run_inline
from fedrec.federated.flower.records import NUM_PARTITIONS, PARTITION_ID
from fedrec.federated.flower.server_app import make_server_app
from fedrec.federated.partition import check_partition
from fedrec.federated.sources import GlobalSplitSource
from fedrec.privacy.policy import NodePolicy
from fedrec.runs.rundir import RunDir


def simulate(cfg: Config, run: RunDir, *, resume: bool = False) -> dict[str, Any]:
    """Run the ServerApp and ClientApp on simulated nodes; return the summary.

    The number of virtual SuperNodes is the partition's client count; impossible
    configurations fail here, before any engine starts. Simulated nodes share
    this machine and keep their accountants in the run's ``client-state/``
    (unless ``client-state-dir`` names another place), where a resumed run (a
    new process) finds them again.
    """
    n_clients = check_partition(
        prepare_split(cfg), cfg.federation.partition, cfg.federation.num_clients
    )
    run.path.mkdir(parents=True, exist_ok=True)
    state_dir = str(simulated_state_dir(cfg.federation.client_state_dir, run.path))
    # The operator of a simulation is every node: their policy is the run config's.
    policy = NodePolicy.from_config(cfg)
    if cfg.federation.simulation_engine == "inline":
        # One client at a time, on every core.
        client_app = make_client_app(state_dir, policy, GlobalSplitSource(threads=cores()))
        server_app = make_server_app(cfg.to_flat(), str(run.path), resume=resume, workers=1)
        nodes = [{PARTITION_ID: i, NUM_PARTITIONS: n_clients} for i in range(n_clients)]
        run_inline(server_app, client_app, nodes)
        return run.read_summary()
    client_app = make_client_app(state_dir, policy)
    # Flower deprecates its public run_simulation() in favour of `flwr run` against a
    # simulation SuperLink; the engine it wraps (the one `flwr run` uses) is this call.
    from flwr.simulation.run_simulation import _run_simulation
    from flwr.supercore.telemetry import EventType

    n_cores = os.cpu_count() or 1
    workers = max(1, int(n_cores // cfg.federation.client_cpus))  # clients training at once
    gpus = 1.0 / min(n_clients, 4) if torch.cuda.is_available() else 0.0
    backend = {
        "client_resources": {"num_cpus": cfg.federation.client_cpus, "num_gpus": gpus},
        "init_args": {"num_cpus": n_cores, "logging_level": "ERROR", "log_to_driver": False},
    }
    _run_simulation(
        num_supernodes=n_clients,
        exit_event=EventType.PYTHON_API_RUN_SIMULATION_LEAVE,
        client_app=client_app,
        server_app=make_server_app(cfg.to_flat(), str(run.path), resume=resume, workers=workers),
        backend_config=backend,  # type: ignore[arg-type]
    )
    return run.read_summary()

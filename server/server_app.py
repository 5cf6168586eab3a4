"""fedrec ServerApp: coordinates rounds, aggregates adapters, evaluates, checkpoints."""

from fedrec.federated.flower.server_app import make_server_app

app = make_server_app()

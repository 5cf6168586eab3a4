"""fedrec ServerApp: coordinates rounds, aggregates adapters, evaluates, checkpoints."""

from fedrec.federated.flower import make_server_app

app = make_server_app()

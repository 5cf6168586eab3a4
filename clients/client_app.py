"""fedrec ClientApp: trains the LoRA recommender on this node's own interactions."""

from fedrec.federated.flower import make_client_app

app = make_client_app()

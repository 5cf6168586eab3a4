"""fedrec ClientApp: trains the LoRA recommender on this node's own interactions."""

from fedrec.federated.flower.client_app import make_client_app

app = make_client_app()

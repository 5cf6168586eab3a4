"""All of fedrec's Flower glue (Message API, flwr >= 1.41), and nothing else.

The only package of fedrec that imports ``flwr``: record keys and the codec
(:mod:`.records`), the ClientApp (:mod:`.client_app`), the ServerApp and the
Flower side of the round loop (:mod:`.server_app`), strategies
(:mod:`.strategy`), the simulation engine (:mod:`.simulation`) and a local
SuperLink (:mod:`.superlink`).
"""

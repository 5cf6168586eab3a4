"""Federated training: partitions, the client and server runtimes, and the Flower glue.

Only :mod:`fedrec.federated.flower` imports Flower; the rest is plain Python.
"""

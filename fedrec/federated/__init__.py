"""Federated training: partitions, client selection, the round loop, the client and server
runtimes and where a client's data comes from, all without Flower; the Flower glue is
:mod:`fedrec.federated.flower`, the only package that imports it.
"""

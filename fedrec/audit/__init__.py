"""Privacy audits of finished runs: the ledger audit (ε recomputed independently, findings,
a report) and the canary audit (the run's mechanism re-run with canaries, an empirical lower
bound on ε). A layer above training and federated, since it re-runs them."""

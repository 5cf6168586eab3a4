"""Differential privacy: DP-SGD (Opacus), central DP-FedAvg, calibration and the ledger."""

#: What every non-private run says, in the log and beside its results.
NOT_PRIVATE = (
    "differential privacy is OFF: this run gives no formal privacy guarantee for the training data."
)

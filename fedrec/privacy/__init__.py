"""Differential privacy: DP-SGD (Opacus) and what it guarantees."""

"""How much noise the PLD accountant saves against RDP, for fedrec's own mechanisms.

For each mechanism (the quickstart's user-level local DP, cross-silo
interaction-level local DP, central DP over sampled clients) and each target ε,
prints the noise multiplier σ that reaches the target by RDP (Opacus) and by
the privacy loss distribution (dp-accounting, what training uses), and the
saving. δ = 1e-5.

    python benchmarks/accountants.py
"""

from __future__ import annotations

import argparse

from fedrec.privacy.calibration import calibrate_noise, epsilon_of, rdp_epsilon_of

MECHANISMS = {
    "quickstart: user level, q=0.59, 10 steps": (0.59, 10),
    "cross-silo: user-days, q=1/64, 512 steps": (1 / 64, 512),
    "central: q=0.04, 20 rounds": (0.04, 20),
}


def rdp_sigma(target: float, delta: float, rate: float, steps: int) -> float:
    """σ by RDP alone (a bisection like training's, on Opacus's RDP)."""
    low, high = 0.05, 200.0
    while high / low > 1.0005:
        mid = (low * high) ** 0.5
        low, high = (
            (mid, high) if rdp_epsilon_of([(mid, rate, steps)], delta) > target else (low, mid)
        )
    return high


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--epsilons", default="1,4,8")
    args = parser.parse_args()
    print("| mechanism | ε | σ by RDP | σ by PLD | noise saved |")
    print("|---|---:|---:|---:|---:|")
    for name, (rate, steps) in MECHANISMS.items():
        for eps in (float(e) for e in args.epsilons.split(",")):
            rdp = rdp_sigma(eps, args.delta, rate, steps)
            pld = calibrate_noise(eps, args.delta, rate, steps)
            assert epsilon_of([(pld, rate, steps)], args.delta) <= eps * 1.001
            print(f"| {name} | {eps:g} | {rdp:.3f} | {pld:.3f} | {100 * (1 - pld / rdp):.1f}% |")


if __name__ == "__main__":
    main()

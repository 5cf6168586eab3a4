"""Where DP randomness comes from: the operating system, never the public seed.

Under local DP the adversary is the server, and it knows the config and its
seed: noise or sampling it can replay is no noise at all. So every draw that a
DP guarantee rests on (the Gaussian noise, the Poisson sampling of records, the
Poisson sampling of clients under central DP) comes from here:

- :class:`PrivateRandomness` (default): a ``torch.Generator`` for each device,
  re-seeded from ``os.urandom`` before every step, so no two steps share a
  stream and nothing about it follows from the run's settings.
- ``secure=True`` (``secure-mode = true``): the Gaussian noise is drawn from a
  ChaCha20 keystream keyed from ``os.urandom`` (the ``cryptography`` package),
  turned into normals by the Box-Muller transform in float64, for those who
  want the noise from a cryptographically secure generator. (Opacus's own
  secure mode needs torchcsprng, which has no release for current PyTorch.)

A DP-SGD step's other choices (which interaction of a sampled record is used,
its catalog negatives, which of them carry the text tower's gradient) come
from the same generator. Drawn from a public stream in batch order, one record
more or less would shift every later record's draws and move their clipped
gradients too (the Gaussian mechanism's sensitivity argument assumes the
others' contributions stay put), and the number of draws a step consumed (its
private batch size) would steer the next step's choices. Drawn privately and
independently for each record, the other records' contributions have the same
distribution with or without any one record.

Dropout inside a step (LoRA's, when ``lora-dropout`` > 0) draws from torch's
global generators, which the step seeds from the OS and restores afterwards
(:meth:`PrivateRandomness.global_torch`). ``secure-mode`` changes where the
noise comes from; the other draws of a step come from the OS-seeded torch
generators either way.

The public seed drives what happens outside DP-SGD steps (initialisation, row
order without DP, data splits): runs stay reproducible in everything else.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

#: What the ledger records as the source of a line's randomness.
OS_SEEDED = "os"
CSPRNG = "chacha20"


def os_seed() -> int:
    """63 bits from the operating system's randomness."""
    return secrets.randbits(63)


class PrivateRandomness:
    """The DP draws of one trainer: Poisson masks and Gaussian noise, from OS randomness."""

    def __init__(self, device: torch.device, *, secure: bool = False) -> None:
        self.device = device
        self.secure = secure
        self.cpu = torch.Generator(device="cpu")
        self.on_device = self.cpu if device.type == "cpu" else torch.Generator(device=device)
        self._chacha = _ChaChaNormal() if secure else None
        self.reseed()

    @property
    def source(self) -> str:
        return CSPRNG if self.secure else OS_SEEDED

    def reseed(self) -> None:
        """A fresh stream from the OS: called before every step."""
        self.cpu.manual_seed(os_seed())
        if self.on_device is not self.cpu:
            self.on_device.manual_seed(os_seed())

    def poisson(self, n: int, rate: float) -> torch.Tensor:
        """Indices of ``n`` records each included independently with probability ``rate``."""
        mask = torch.rand(n, generator=self.cpu) < rate
        return torch.nonzero(mask).flatten()

    @contextmanager
    def global_torch(self) -> Iterator[None]:
        """torch's global generators seeded from the OS while the block runs (what
        dropout inside a DP step draws from), and restored after it."""
        devices: list[int] = []
        if self.device.type == "cuda":
            index = self.device.index
            devices = [torch.cuda.current_device() if index is None else index]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(os_seed())
            yield

    def uniform(self, n: int) -> torch.Tensor:
        """``n`` uniforms in [0, 1) (CPU)."""
        return torch.rand(n, generator=self.cpu, dtype=torch.float64)

    def integers(self, high: int, size: tuple[int, ...]) -> torch.Tensor:
        """Integers uniform in [0, ``high``) of shape ``size`` (CPU)."""
        return torch.randint(0, high, size, generator=self.cpu)

    def normal(self, std: float, like: torch.Tensor) -> torch.Tensor:
        """Gaussian noise N(0, std²) of ``like``'s shape, dtype and device."""
        if self._chacha is not None:
            values = self._chacha.normal(like.numel()) * std
            return torch.as_tensor(values, dtype=like.dtype).reshape(like.shape).to(like.device)
        return torch.normal(0.0, std, like.shape, generator=self.on_device, device=like.device).to(
            like.dtype
        )


class _ChaChaNormal:
    """Standard normals from a ChaCha20 keystream (key and nonce from ``os.urandom``)."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

        cipher = Cipher(algorithms.ChaCha20(os.urandom(32), os.urandom(16)), mode=None)
        self._stream = cipher.encryptor()

    def _uniform(self, n: int) -> np.ndarray:
        """``n`` uniforms in (0, 1] with 53 random bits each."""
        words = np.frombuffer(self._stream.update(bytes(8 * n)), dtype=np.uint64)
        return ((words >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53

    def normal(self, n: int) -> np.ndarray:
        half = (n + 1) // 2
        u1, u2 = self._uniform(half), self._uniform(half)
        radius = np.sqrt(-2.0 * np.log(u1))
        angle = 2.0 * math.pi * u2
        return np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:n]


def private_numpy_rng() -> np.random.Generator:
    """A numpy generator seeded from the OS (client sampling under central DP)."""
    return np.random.default_rng(secrets.randbits(128))


def reseed_numpy_global() -> None:
    """Re-seed numpy's global generator from the OS: Flower's DP wrappers draw their
    noise from it, and anything else may have seeded it from a public value."""
    np.random.seed(np.frombuffer(os.urandom(624 * 4), dtype=np.uint32))

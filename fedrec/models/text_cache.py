"""A disk cache of frozen lower-layer states, shared by every process on a machine.

The states the frozen layers under LoRA produce for a fixed text depend only on
the token ids and the frozen weights, so every process that builds the same
catalog model (the server, each simulation worker, each ``fedrec train``)
would compute the same tensor. The first one writes it here; the others read
it. The key hashes the token ids, the mask, the frozen weights themselves, the
device type and the torch and transformers versions, so another backbone,
catalog, tokenizer or library never reads a stale entry. Only the public
catalog's texts are cached here: users' profiles never leave the process.

The folder is ``FEDREC_CACHE_DIR``, else ``$XDG_CACHE_HOME/fedrec``, else
``~/.cache/fedrec``; ``FEDREC_CACHE_DIR=off`` turns the cache off. Entries are
safetensors files written atomically (a unique temporary name, then a
rename), so concurrent writers never tear one; an unreadable entry is
recomputed and replaced.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections import OrderedDict
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

log = logging.getLogger(__name__)

#: Bump when the meaning of a cached tensor changes.
FORMAT = 1


def cache_dir() -> Path | None:
    """The cache folder, or None when ``FEDREC_CACHE_DIR=off``."""
    named = os.environ.get("FEDREC_CACHE_DIR", "")
    if named.lower() == "off":
        return None
    if named:
        return Path(named)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fedrec"


def weights_digest(modules: list[nn.Module]) -> str:
    """A digest of every parameter and buffer of ``modules`` (names, shapes, values)."""
    h = hashlib.blake2b(digest_size=16)
    for module in modules:
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            data = tensor.detach().cpu().contiguous()
            h.update(f"{name}:{tuple(data.shape)}:{data.dtype}".encode())
            h.update(data.view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return h.hexdigest()


def states_key(ids: torch.Tensor, mask: torch.Tensor, weights: str) -> str:
    """The entry of these token ids under these frozen weights, for this torch and
    transformers (whose kernels and layer code compute the states)."""
    import transformers

    h = hashlib.blake2b(digest_size=20)
    versions = f"torch {torch.__version__}, transformers {transformers.__version__}"
    h.update(f"v{FORMAT}:{versions}:{weights}:{tuple(ids.shape)}".encode())
    h.update(ids.cpu().to(torch.int64).contiguous().numpy().tobytes())
    h.update(mask.cpu().to(torch.int64).contiguous().numpy().tobytes())
    return h.hexdigest()


#: States this process computed or read, by key (the server's and the clients' models of
#: one simulation share them): a few entries, the most recent kept.
_MEMORY: OrderedDict[str, torch.Tensor] = OrderedDict()
_MEMORY_ENTRIES = 4


def remembered(key: str, shape: tuple[int, ...]) -> torch.Tensor | None:
    """States this process already holds for ``key`` (read-only: they are shared)."""
    states = _MEMORY.get(key)
    if states is None or tuple(states.shape) != shape:
        return None
    _MEMORY.move_to_end(key)
    return states


def remember(key: str, states: torch.Tensor) -> None:
    _MEMORY[key] = states
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > _MEMORY_ENTRIES:
        _MEMORY.popitem(last=False)


def load_states(key: str, shape: tuple[int, ...]) -> torch.Tensor | None:
    """The cached tensor for ``key`` if present, readable and of ``shape``."""
    folder = cache_dir()
    if folder is None:
        return None
    path = folder / f"{key}.safetensors"
    if not path.is_file():
        return None
    try:
        states = load_file(str(path))["states"]
    except Exception as err:  # a torn or foreign file: recompute and replace it
        log.warning("ignoring unreadable text cache entry %s (%s)", path, err)
        return None
    return states if tuple(states.shape) == shape else None


def save_states(key: str, states: torch.Tensor) -> None:
    """Write ``states`` under ``key``; a cache that cannot be written is skipped."""
    folder = cache_dir()
    if folder is None:
        return
    path = folder / f"{key}.safetensors"
    tmp = folder / f".{key}.{os.getpid()}.tmp"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        save_file({"states": states.detach().cpu().contiguous()}, str(tmp))
        os.replace(tmp, path)
    except Exception as err:  # the cache is an optimisation: never fail a run over it
        log.warning("could not write the text cache in %s (%s); going on without it", folder, err)
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)

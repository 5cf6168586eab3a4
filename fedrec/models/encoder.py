"""A frozen text encoder with LoRA in its upper layers, split for caching.

The backbone's layers below the first LoRA layer never change, so the hidden
states they produce for a fixed text (every catalog item is public and fixed)
can be computed once and reused: :class:`TextEncoder` exposes the lower part
(``lower``, no gradient) and the upper part (``upper``, where LoRA trains)
separately, and :class:`TokenizedTexts` holds texts tokenized once with their
lower-layer states cached when they fit the memory cap.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from tqdm.auto import tqdm
from transformers import PreTrainedTokenizerBase

from fedrec.config import ModelConfig, parse_layer_spec, split_list
from fedrec.errors import ConfigError
from fedrec.models import text_cache
from fedrec.notices import quiet_dependency_notices

#: Cached lower-layer states above this many bytes are recomputed instead.
CACHE_LIMIT_BYTES = 2 * 1024**3


class TextEncoder(nn.Module):
    """Frozen BERT-family backbone with LoRA adapters; mean-pooled text vectors.

    ``lower(ids, mask)`` runs the embeddings and the frozen layers under the first
    LoRA layer; ``upper(hidden, mask)`` runs the rest and mean-pools over tokens.
    ``encode`` does both.
    """

    def __init__(self, backbone: nn.Module, cfg: ModelConfig) -> None:
        super().__init__()
        n_layers = len(backbone.encoder.layer)
        layers = parse_layer_spec(cfg.lora_layers, num_layers=n_layers) or list(range(n_layers))
        self.hidden_size = int(backbone.config.hidden_size)
        if cfg.lora_rank > 0:
            targets = split_list(cfg.lora_targets)
            present = {name.rsplit(".", 1)[-1] for name, _ in backbone.named_modules()}
            missing = [t for t in targets if t not in present]
            if missing:
                raise ConfigError(
                    f"lora-targets: {missing} are not module names of this backbone; "
                    f"for BERT use e.g. 'query,value' or 'query,key,value,dense'."
                )
            lora = LoraConfig(
                r=cfg.lora_rank,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules=targets,
                layers_to_transform=layers,
                layers_pattern="layer",
                bias="none",
            )
            with warnings.catch_warnings():  # PEFT reads a property transformers renamed
                quiet_dependency_notices()
                self.model = get_peft_model(backbone, lora)
            self.split_at = layers[0]
        else:
            self.model = backbone
            self.split_at = n_layers
        # The underlying BertModel (LoRA injected in place), kept out of the module
        # tree so its parameters are not listed twice.
        object.__setattr__(self, "_bert", backbone)
        backbone.eval()
        self._lower_digest: str | None = None

    # The backbone stays in eval mode (no dropout) whatever mode the owner is in;
    # only the LoRA modules follow train() (their dropout, and per-sample gradient
    # hooks, which record activations only for modules in training mode).
    def train(self, mode: bool = True) -> TextEncoder:
        super().train(mode)
        self._bert.eval()
        for name, module in self._bert.named_modules():
            if "lora_" in name:
                module.train(mode)
        return self

    @staticmethod
    def _additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        # [n, L] 1/0 -> [n, 1, 1, L] 0 / -inf-like, the form BERT layers accept.
        return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min

    def lower_digest(self) -> str:
        """A digest of the frozen weights ``lower`` uses (the disk cache's key part)."""
        if self._lower_digest is None:
            modules = [self._bert.embeddings, *self._bert.encoder.layer[: self.split_at]]
            digest = text_cache.weights_digest(modules)
            self._lower_digest = f"{type(self._bert).__name__}:{self.split_at}:{digest}"
        return self._lower_digest

    def lower(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[n, L] token ids -> [n, L, H] states after the frozen lower layers."""
        with torch.no_grad():
            h = self._bert.embeddings(input_ids=ids, token_type_ids=torch.zeros_like(ids))
            ext = self._additive_mask(mask, h.dtype)
            for layer in self._bert.encoder.layer[: self.split_at]:
                h = _first(layer(h, attention_mask=ext))
        return h

    def upper(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[n, L, H] lower states -> [n, H] mean-pooled text vectors (LoRA active)."""
        ext = self._additive_mask(mask, hidden.dtype)
        h = hidden
        for layer in self._bert.encoder.layer[self.split_at :]:
            h = _first(layer(h, attention_mask=ext))
        m = mask.to(h.dtype).unsqueeze(-1)
        return (h * m).sum(1) / m.sum(1).clamp(min=1.0)

    def encode(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.upper(self.lower(ids, mask), mask)

    def upper_grouped(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """[B, M, L, H] lower states of M texts per example -> [B, M, H] pooled vectors.

        The same computation as :meth:`upper`, written so that every trainable
        module sees the example as its first dimension: what per-sample gradient
        hooks (Opacus) need to attribute each gradient to one example.
        """
        h = hidden
        for layer in self._bert.encoder.layer[self.split_at :]:
            h = _grouped_layer(layer, h, mask)
        m = mask.to(h.dtype).unsqueeze(-1)
        return (h * m).sum(-2) / m.sum(-2).clamp(min=1.0)


def _grouped_layer(layer: nn.Module, h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One BERT layer (eval mode) on [B, M, L, H] states; attention stays within each text."""
    attn = layer.attention.self
    heads, size = attn.num_attention_heads, attn.attention_head_size

    def split(x: torch.Tensor) -> torch.Tensor:  # [B, M, L, H] -> [B, M, heads, L, size]
        return x.view(*x.shape[:-1], heads, size).transpose(-2, -3)

    q, k, v = split(attn.query(h)), split(attn.key(h)), split(attn.value(h))
    scores = (q @ k.transpose(-1, -2)) * attn.scaling  # [B, M, heads, L, L]
    blocked = (1.0 - mask[:, :, None, None, :].to(scores.dtype)) * torch.finfo(scores.dtype).min
    context = torch.softmax(scores + blocked, dim=-1) @ v  # [B, M, heads, L, size]
    context = context.transpose(-2, -3).reshape(h.shape)
    out = layer.attention.output
    h = out.LayerNorm(out.dense(context) + h)
    inner = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(h))
    return layer.output.LayerNorm(layer.output.dense(inner) + h)


def _first(out: torch.Tensor | tuple[torch.Tensor, ...]) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


@dataclass
class TokenizedTexts:
    """Texts tokenized once (padded to their own max length, at most ``max_tokens``).

    ``lower_states`` caches the frozen lower-layer output for every text when it
    fits :data:`CACHE_LIMIT_BYTES`; otherwise it is recomputed per batch.
    """

    ids: torch.Tensor  # [n, L]
    mask: torch.Tensor  # [n, L]
    lower_states: torch.Tensor | None = None  # [n, L, H]

    @classmethod
    def build(
        cls, texts: Sequence[str], tokenizer: PreTrainedTokenizerBase, max_tokens: int
    ) -> TokenizedTexts:
        batch = tokenizer(
            list(texts) or [""],
            padding="longest",
            truncation=True,
            max_length=max_tokens,
            return_tensors="pt",
        )
        return cls(ids=batch["input_ids"], mask=batch["attention_mask"])

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def to(self, device: torch.device) -> TokenizedTexts:
        return TokenizedTexts(
            self.ids.to(device),
            self.mask.to(device),
            None if self.lower_states is None else self.lower_states.to(device),
        )

    def cache_lower(
        self,
        encoder: TextEncoder,
        batch_size: int = 256,
        progress: bool = False,
        *,
        public: bool = False,
    ) -> None:
        """Compute and keep the lower-layer states, if they fit the memory cap. Another
        model of this process (the server's, the clients') shares them; texts that are
        ``public`` (the catalog) are also read from (or written to) the machine's disk
        cache (:mod:`fedrec.models.text_cache`); users' profiles never touch the disk."""
        n, length = self.ids.shape
        size = n * length * encoder.hidden_size * 4
        if encoder.split_at == 0 or size > CACHE_LIMIT_BYTES:
            self.lower_states = None
            return
        key = text_cache.states_key(
            self.ids, self.mask, f"{encoder.lower_digest()}:{self.ids.device.type}"
        )
        shape = (n, length, encoder.hidden_size)
        cached = text_cache.remembered(key, shape)
        if cached is None and public:
            cached = text_cache.load_states(key, shape)
        if cached is None:
            cached = self._compute_lower(encoder, batch_size, progress)
            if public:
                text_cache.save_states(key, cached)
        self.lower_states = cached.to(self.ids.device)
        text_cache.remember(key, self.lower_states)

    def _compute_lower(self, encoder: TextEncoder, batch_size: int, progress: bool) -> torch.Tensor:
        n = len(self)
        parts = []
        for start in tqdm(
            range(0, n, batch_size), desc="caching frozen layers", disable=not progress, leave=False
        ):
            sl = slice(start, start + batch_size)
            parts.append(encoder.lower(self.ids[sl], self.mask[sl]))
        return torch.cat(parts)

    def _lower(
        self, encoder: TextEncoder, index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower-layer states [n, L, H] and mask [n, L] of 1-D ``index``, cached or computed.

        Padding shared by the whole batch is trimmed: cost grows with sequence length.
        """
        mask = self.mask[index]
        length = int(mask.sum(1).max().item()) if index.numel() else 1
        mask = mask[:, :length]
        if self.lower_states is not None:
            return self.lower_states[index, :length], mask
        return encoder.lower(self.ids[index, :length], mask), mask

    def encode(self, encoder: TextEncoder, index: torch.Tensor) -> torch.Tensor:
        """Text vectors [len(index), H] for the given rows, with gradients through LoRA."""
        hidden, mask = self._lower(encoder, index)
        return encoder.upper(hidden, mask)

    def encode_grouped(self, encoder: TextEncoder, index: torch.Tensor) -> torch.Tensor:
        """[B, M] row indices -> [B, M, H] text vectors, batch-first for per-sample gradients."""
        b, m = index.shape
        hidden, mask = self._lower(encoder, index.reshape(-1))
        length = mask.shape[1]
        return encoder.upper_grouped(hidden.reshape(b, m, length, -1), mask.reshape(b, m, length))

    @torch.no_grad()
    def encode_all(
        self,
        encoder: TextEncoder,
        batch_size: int = 256,
        progress: bool = False,
        desc: str = "encoding",
    ) -> torch.Tensor:
        """Vectors [n, H] for every text, without gradients."""
        out = []
        for start in tqdm(
            range(0, len(self), batch_size), desc=desc, disable=not progress, leave=False
        ):
            index = torch.arange(start, min(start + batch_size, len(self)), device=self.ids.device)
            out.append(self.encode(encoder, index))
        if not out:
            return torch.zeros(0, encoder.hidden_size)
        return torch.cat(out)

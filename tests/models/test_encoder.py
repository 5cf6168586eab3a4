import torch

from fedrec.config import build_config
from fedrec.models.backbone import load_backbone
from fedrec.models.encoder import TextEncoder, TokenizedTexts

TEXTS = ["trail running shoes", "midnight jazz sessions, mellow", "city council votes", "a"]


def _encoder(path, layers="top-1"):
    cfg = build_config({"backbone": str(path), "lora-layers": layers}).model
    bert, tok = load_backbone(str(path))
    return TextEncoder(bert, cfg), tok, bert


def test_split_forward_matches_the_plain_model_before_training(tiny_bert_path):
    from transformers import AutoModel

    encoder, tok, _ = _encoder(tiny_bert_path)
    batch = tok(TEXTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        ours = encoder.encode(batch["input_ids"], batch["attention_mask"])
        # LoRA's B starts at zero, so the adapted model equals the plain backbone.
        ref = AutoModel.from_pretrained(str(tiny_bert_path)).eval()
        h = ref(**batch).last_hidden_state
    m = batch["attention_mask"].unsqueeze(-1).float()
    assert torch.allclose(ours, (h * m).sum(1) / m.sum(1), atol=1e-5)


def test_cached_lower_layers_give_the_same_vectors(tiny_bert_path):
    encoder, tok, _ = _encoder(tiny_bert_path)
    texts = TokenizedTexts.build(TEXTS, tok, max_tokens=16)
    index = torch.tensor([2, 0, 3])
    plain = texts.encode(encoder, index)
    texts.cache_lower(encoder)
    assert texts.lower_states is not None
    assert torch.allclose(texts.encode(encoder, index), plain, atol=1e-6)


def test_only_lora_in_chosen_layers_is_trainable(tiny_bert_path):
    encoder, _, _ = _encoder(tiny_bert_path, layers="1")
    trainable = [n for n, p in encoder.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n and "layer.1." in n for n in trainable)
    assert encoder.split_at == 1


def test_grouped_forward_equals_the_flat_one(tiny_bert_path):
    encoder, tok, _ = _encoder(tiny_bert_path)
    texts = TokenizedTexts.build(TEXTS, tok, max_tokens=16)
    texts.cache_lower(encoder)
    with torch.no_grad():
        for p in encoder.parameters():
            if p.requires_grad:
                p.normal_(0, 0.1)  # non-zero LoRA so the adapter takes part
    index = torch.tensor([[0, 2, 3], [1, 1, 0]])
    grouped = texts.encode_grouped(encoder, index)
    flat = texts.encode(encoder, index.reshape(-1)).reshape(2, 3, -1)
    assert grouped.shape == flat.shape
    assert torch.allclose(grouped, flat, atol=1e-5)

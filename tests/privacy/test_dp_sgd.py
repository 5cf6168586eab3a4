"""DP-SGD: per-sample gradients, clipping, accounting, and the privacy unit."""

import numpy as np
import pytest
import torch
from opacus import GradSampleModule
from opacus.accountants import RDPAccountant

from fedrec.config import build_config
from fedrec.errors import ConfigError
from fedrec.models.catalog_model import build_catalog_model
from fedrec.privacy.dp_sgd import PER_SAMPLE_BUDGET_BYTES, DPSGDTrainer, physical_batch_size
from fedrec.training.per_example import per_example_loss
from fedrec.training.rows import build_rows


@pytest.fixture()
def cm(tiny_bert_path, small_split):
    cfg = build_config(
        {"backbone": str(tiny_bert_path), "embed-dim": 8, "max-tokens": 16, "lora-layers": "top-1"}
    )
    torch.manual_seed(0)
    model = build_catalog_model(small_split, cfg.model, cfg.data, torch.device("cpu"))
    with torch.no_grad():  # every trainable tensor non-zero, so every gradient path is live
        for p in model.model.parameters():
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    return model


def _batch(rows, idx, cm, k=5, seed=0):
    rng = np.random.default_rng(seed)
    return (
        torch.as_tensor(rows.users[idx]),
        torch.as_tensor(rows.targets[idx]),
        torch.as_tensor(rows.history[idx]),
        torch.as_tensor(rng.integers(0, cm.n_items, size=(len(idx), k))),
    )


def _trained(cm, text="frozen"):
    """(name, tensor) of what DP-SGD trains: LoRA only with dp-text=trained."""
    return [
        (n, p)
        for n, p in cm.model.named_parameters()
        if p.requires_grad and (text == "trained" or not n.startswith("encoder."))
    ]


def _reference_grads(cm, batch, text="frozen"):
    """Each example's gradient, computed alone (a batch of one)."""
    params = [p for _, p in _trained(cm, text)]
    out = []
    for i in range(len(batch[0])):
        one = tuple(t[i : i + 1] for t in batch)
        loss = per_example_loss(cm, *one, text=text)
        out.append([g.detach() for g in torch.autograd.grad(loss, params)])
    return params, out


@pytest.mark.parametrize("text", ["frozen", "trained"])
def test_hook_per_sample_gradients_match_one_example_at_a_time(cm, small_split, text):
    rows = build_rows(small_split.train, 20)
    batch = _batch(rows, np.arange(2, 8), cm)
    cm.model.train()
    params, reference = _reference_grads(cm, batch, text)
    names = [n for n, _ in _trained(cm, text)]
    lora = [j for j, n in enumerate(names) if "lora_" in n]
    assert bool(lora) == (text == "trained")
    for j in lora:  # every example moves every LoRA tensor
        assert all(float(ref[j].abs().max()) > 0 for ref in reference), names[j]
    gsm = GradSampleModule(cm.model, loss_reduction="mean")
    try:
        per_example_loss(cm, *batch, text=text).backward()
        for j, p in enumerate(params):
            assert p.grad_sample is not None
            for i in range(len(reference)):
                assert torch.allclose(p.grad_sample[i], reference[i][j], atol=1e-5), names[j]
    finally:
        gsm._close()


@pytest.mark.parametrize("text", ["frozen", "trained"])
def test_dp_text_decides_whether_the_lora_tower_moves(cm, small_split, text):
    rows = build_rows(small_split.train, 20)
    train = build_config({"batch-size": 8}).train
    privacy = build_config(
        {"privacy-mode": "local", "noise-multiplier": 0.5, "dp-text": text}
    ).privacy
    before = {n: p.detach().clone() for n, p in cm.model.named_parameters() if p.requires_grad}
    trainer = DPSGDTrainer(cm, rows, train, privacy, epochs=1, rng=np.random.default_rng(0))
    try:
        optimized = {id(p) for group in trainer.optimizer.param_groups for p in group["params"]}
        trainer.epoch()
    finally:
        trainer.close()
    after = dict(cm.model.named_parameters())
    lora = [n for n in before if "lora_" in n]
    heads = [n for n in before if n.startswith(("item_head", "user_head"))]
    assert lora and heads
    assert all(not torch.equal(before[n], after[n]) for n in heads)
    assert all(torch.equal(before[n], after[n]) == (text == "frozen") for n in lora)
    assert all((id(after[n]) in optimized) == (text == "trained") for n in lora)


def test_frozen_text_needs_no_encoder_pass(cm, small_split, monkeypatch):
    rows = build_rows(small_split.train, 20)
    batch = _batch(rows, np.arange(0, 4), cm, k=7)
    shapes = []
    original = cm.items.encode_grouped

    def spy(encoder, index):
        shapes.append(tuple(index.shape))
        return original(encoder, index)

    monkeypatch.setattr(cm.items, "encode_grouped", spy)
    per_example_loss(cm, *batch, text="frozen")
    per_example_loss(cm, *batch, text="trained")
    assert shapes == [(4, 8)]  # the positive and 7 negatives per example, trained text only
    with pytest.raises(ValueError, match="text="):
        per_example_loss(cm, *batch, text="cached")


@pytest.mark.parametrize("text", ["frozen", "trained"])
def test_each_item_tower_module_runs_once_per_dp_forward(cm, small_split, text):
    """Candidates and history share one call, so hooks build one per-sample gradient
    per module (a second call would build and add a second [B, n_items, d] tensor)."""
    rows = build_rows(small_split.train, 20)
    batch = _batch(rows, np.arange(0, 6), cm)
    calls = {"item_head": 0, "item_embedding": 0}
    hooks = [
        getattr(cm.model, name).register_forward_hook(
            lambda *_, name=name: calls.__setitem__(name, calls[name] + 1)
        )
        for name in calls
    ]
    try:
        per_example_loss(cm, *batch, text=text)
    finally:
        for h in hooks:
            h.remove()
    assert calls == {"item_head": 1, "item_embedding": 1}


def test_updates_are_the_mean_of_clipped_per_sample_gradients(cm, small_split):
    rows = build_rows(small_split.train, 20)
    batch = _batch(rows, np.arange(0, 6), cm)
    cm.model.train()
    params, reference = _reference_grads(cm, batch)  # before any hooks are attached
    expected = [torch.zeros_like(p) for p in params]
    for grads in reference:
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        factor = min(1.0, 0.01 / (float(norm) + 1e-6))
        for e, g in zip(expected, grads, strict=True):
            e += g * factor
    train = build_config({"batch-size": 6}).train
    privacy = build_config(
        {"privacy-mode": "local", "noise-multiplier": 0.0, "max-grad-norm": 0.01}
    ).privacy
    trainer = DPSGDTrainer(cm, rows, train, privacy, epochs=1, rng=np.random.default_rng(0))
    trainer.optimizer.zero_grad()
    cm.model.train()
    per_example_loss(cm, *batch).backward()
    trainer.optimizer.pre_step()  # clip, sum, (no) noise, scale
    for p, e in zip(params, expected, strict=True):
        assert torch.allclose(p.grad, e / trainer.optimizer.expected_batch_size, atol=1e-6)
    total_norms = [float(torch.sqrt(sum((g**2).sum() for g in grads))) for grads in reference]
    assert min(total_norms) > 0.01  # clipping really bit


def test_epsilon_grows_and_matches_a_direct_accountant(cm, small_split):
    rows = build_rows(small_split.train, 20)
    train = build_config({"batch-size": 16}).train
    privacy = build_config({"privacy-mode": "local", "noise-multiplier": 1.1}).privacy
    trainer = DPSGDTrainer(cm, rows, train, privacy, epochs=2, rng=np.random.default_rng(0))
    trainer.epoch()
    first = trainer.report()
    trainer.epoch()
    second = trainer.report()
    assert 0 < first.epsilon < second.epsilon
    assert second.steps == 2 * first.steps
    direct = RDPAccountant()
    direct.history = [(1.1, first.sample_rate, second.steps)]
    assert second.epsilon == pytest.approx(direct.get_epsilon(second.delta), rel=1e-9)
    assert second.delta == pytest.approx(1 / (10 * len(rows)))


def test_user_unit_makes_each_user_one_record(cm, small_split):
    rows = build_rows(small_split.train, 20)
    train = build_config({"privacy-unit": "user", "batch-size": 8}).train
    privacy = build_config({"privacy-mode": "local"}).privacy
    trainer = DPSGDTrainer(cm, rows, train, privacy, epochs=1, rng=np.random.default_rng(0))
    assert trainer.records == small_split.train["user"].nunique()
    picked = trainer._rows_of(torch.arange(trainer.records))
    assert sorted(rows.users[picked].tolist()) == sorted(
        small_split.train["user"].unique().tolist()
    )


def test_target_epsilon_sets_the_noise(cm, small_split):
    rows = build_rows(small_split.train, 20)
    train = build_config({"batch-size": 16}).train
    loose = DPSGDTrainer(
        cm,
        rows,
        train,
        build_config({"target-epsilon": 8}).privacy,
        epochs=3,
        rng=np.random.default_rng(0),
    )
    assert loose.noise_multiplier > 0
    assert loose.report().epsilon == 0.0  # nothing spent before training


@pytest.mark.parametrize("batch", [16, 23, 64, 1000])
def test_the_target_epsilon_is_reached_exactly_whatever_the_batch(cm, small_split, batch):
    """N / batch need not be whole: the noise is calibrated on the loader's real steps."""
    rows = build_rows(small_split.train, 20)
    trainer = DPSGDTrainer(
        cm,
        rows,
        build_config({"batch-size": batch}).train,
        build_config({"privacy-mode": "local", "target-epsilon": 4}).privacy,
        epochs=2,
        rng=np.random.default_rng(0),
    )
    try:
        steps = trainer.steps_per_epoch * 2
        assert trainer.epsilon_after(steps) == pytest.approx(4.0, rel=0.02)
        assert trainer.epsilon_after(steps) <= 4.0 * 1.001
    finally:
        trainer.close()


def test_delta_must_be_below_one_over_n(cm, small_split):
    rows = build_rows(small_split.train, 20)
    privacy = build_config({"privacy-mode": "local", "delta": 0.5}).privacy
    with pytest.raises(ConfigError, match="delta"):
        DPSGDTrainer(
            cm, rows, build_config({}).train, privacy, epochs=1, rng=np.random.default_rng(0)
        )


def test_secure_mode_without_its_dependency_is_a_clear_error(cm, small_split):
    pytest.importorskip("opacus")
    try:
        import torchcsprng  # noqa: F401

        pytest.skip("torchcsprng is installed here: secure mode works")
    except ImportError:
        pass
    rows = build_rows(small_split.train, 20)
    privacy = build_config({"privacy-mode": "local", "secure-mode": True}).privacy
    with pytest.raises(ConfigError, match="torchcsprng"):
        DPSGDTrainer(
            cm, rows, build_config({}).train, privacy, epochs=1, rng=np.random.default_rng(0)
        )


def test_an_empty_poisson_batch_still_adds_noise_and_is_accounted(cm, small_split):
    rows = build_rows(small_split.train, 20)
    train = build_config({"batch-size": 4}).train
    privacy = build_config({"privacy-mode": "local", "noise-multiplier": 1.0}).privacy
    trainer = DPSGDTrainer(cm, rows, train, privacy, epochs=1, rng=np.random.default_rng(0))
    # every batch empty: a Poisson draw that picked nobody, step after step
    trainer.loader = [(torch.zeros(0, dtype=torch.float32),)] * 3
    before = {n: p.detach().clone() for n, p in cm.model.named_parameters() if p.requires_grad}
    try:
        stats = trainer.epoch()
    finally:
        trainer.close()
    assert stats.examples == 0
    assert sum(int(h[2]) for h in trainer.history()) == 3  # three steps accounted
    moved = [
        n for n, p in cm.model.named_parameters() if n in before and not torch.equal(p, before[n])
    ]
    assert any(n.startswith("item_head") for n in moved)  # noise was released


def _one_dp_epoch(cm, rows, physical, monkeypatch):
    """Train one epoch from cm's current state; the trained tensors after it, and the
    sizes of every backward pass."""
    sizes = []

    def spy(cm_, users, *rest, **kw):
        sizes.append(len(users))
        return per_example_loss(cm_, users, *rest, **kw)

    monkeypatch.setattr("fedrec.privacy.dp_sgd.per_example_loss", spy)
    privacy = build_config(
        {"privacy-mode": "local", "noise-multiplier": 0.7, "dp-physical-batch": physical}
    ).privacy
    train = build_config({"batch-size": 12}).train
    torch.manual_seed(3)  # Poisson sampling and the noise both draw from torch
    trainer = DPSGDTrainer(cm, rows, train, privacy, epochs=1, rng=np.random.default_rng(1))
    try:
        trainer.epoch()
    finally:
        trainer.close()
    after = {n: p.detach().clone() for n, p in _trained(cm)}
    return after, sizes, trainer.history()


def test_a_poisson_batch_split_into_pieces_gives_the_same_noisy_step(cm, small_split, monkeypatch):
    """dp-physical-batch bounds memory without changing the mechanism: the pieces'
    clipped gradients are summed and noised once per Poisson batch, not once a piece."""
    rows = build_rows(small_split.train, 20)
    start = {n: p.detach().clone() for n, p in cm.model.named_parameters()}
    whole, whole_sizes, whole_history = _one_dp_epoch(cm, rows, 1000, monkeypatch)
    with torch.no_grad():
        for n, p in cm.model.named_parameters():
            p.copy_(start[n])
    split, split_sizes, split_history = _one_dp_epoch(cm, rows, 4, monkeypatch)
    assert max(split_sizes) <= 4 < max(whole_sizes)  # batches really were split
    assert sum(split_sizes) == sum(whole_sizes)
    assert split_history == whole_history  # one accounted step per Poisson batch
    for n, value in whole.items():
        assert not torch.equal(value, start[n]), n
        assert torch.allclose(split[n], value, atol=1e-6), n


def test_the_physical_batch_is_sized_from_the_trained_coordinates():
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert physical_batch_size(32, 4 * 10**9, cpu) == 32  # asked for: kept
    size = 4 * 100_000  # 100,000 float32 values
    assert physical_batch_size(0, size, cpu) == PER_SAMPLE_BUDGET_BYTES["cpu"] // size
    assert physical_batch_size(0, size, gpu) == PER_SAMPLE_BUDGET_BYTES["cuda"] // size
    assert physical_batch_size(0, 4 * 10**12, cpu) == 1  # never zero
    with pytest.raises(ConfigError, match="dp-physical-batch"):
        build_config({"dp-physical-batch": -1})

"""The per-example loss under DP: LoRA's gradient through drawn negatives is the exact
gradient in expectation, and every draw a DP step makes is private."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fedrec.config import build_config
from fedrec.privacy.dp_sgd import trainer_for
from fedrec.training.loss import UserView
from fedrec.training.per_example import per_example_loss, text_gradient_weights
from fedrec.training.rows import build_rows
from tests.conftest import record_encodings


@pytest.fixture()
def cm(lora_cm):
    lora_cm.refresh()  # the cached text vectors are those of these weights
    return lora_cm


def _batch(cm, small_split, n=5, k=6):
    rows = build_rows(small_split.train, 20)
    idx = np.arange(n)
    neg = np.random.default_rng(3).integers(0, cm.n_items, size=(n, k))
    neg[0, 2] = rows.targets[0]  # a negative equal to its positive is masked out
    return (
        torch.as_tensor(rows.users[idx]),
        torch.as_tensor(rows.targets[idx]),
        torch.as_tensor(rows.history[idx]),
        torch.as_tensor(neg),
    )


def _lora(cm):
    return [p for n, p in cm.model.named_parameters() if "lora_" in n]


def _full_encoding_loss(cm, users, targets, history, negatives):
    """The loss with every candidate encoded through LoRA (the reference computation)."""
    model = cm.model
    candidates = torch.cat([targets.unsqueeze(1), negatives], dim=1)
    vecs = model.item_vectors(cm.items.encode_grouped(model.encoder, candidates), candidates)
    u = cm.user_vectors(users, history)
    logits = (vecs @ u.unsqueeze(-1)).squeeze(-1) / model.cfg.temperature
    logits = logits + model.item_offsets(candidates)
    clash = torch.zeros_like(candidates, dtype=torch.bool)
    clash[:, 1:] = negatives == targets.unsqueeze(1)
    logits = logits.masked_fill(clash, float("-inf"))
    return F.cross_entropy(logits, torch.zeros_like(targets), reduction="sum")


def test_lora_gradient_through_every_negative_is_the_exact_gradient(cm, small_split):
    batch = _batch(cm, small_split)
    cm.model.train()
    params = _lora(cm)
    reference = torch.autograd.grad(_full_encoding_loss(cm, *batch), params)
    loss = per_example_loss(cm, *batch, reduction="sum", text="trained", text_negatives=6)
    assert float(loss) == pytest.approx(float(_full_encoding_loss(cm, *batch)), rel=1e-5)
    got = torch.autograd.grad(loss, params)
    for g, r in zip(got, reference, strict=True):
        assert float(r.abs().max()) > 0
        assert torch.allclose(g, r, atol=1e-6, rtol=1e-4)


def _short_view(history, weight=0.7):
    """A view of each example's user by their two most recent items."""
    short = history.clone()
    short[:, 2:] = -1
    return UserView(weight, short)


def test_lora_gradient_with_a_view_through_every_negative_is_the_exact_gradient(cm, small_split):
    """A view's LoRA gradient rides in the example's one pass of encodings: with every
    negative it is the exact gradient of the loss plus the view's weighted loss."""
    users, targets, history, negatives = _batch(cm, small_split)
    view = _short_view(history)
    cm.model.train()
    params = _lora(cm)
    full = _full_encoding_loss(cm, users, targets, history, negatives)
    full = full + view.weight * _full_encoding_loss(cm, users, targets, view.history, negatives)
    reference = torch.autograd.grad(full, params)
    loss = per_example_loss(
        cm, users, targets, history, negatives, "sum", "trained", text_negatives=6, views=[view]
    )
    assert float(loss) == pytest.approx(float(full), rel=1e-5)
    for g, r in zip(torch.autograd.grad(loss, params), reference, strict=True):
        assert float(r.abs().max()) > 0
        assert torch.allclose(g, r, atol=1e-6, rtol=1e-4)


def test_every_sight_of_an_example_shares_one_lora_pass(cm, small_split, monkeypatch):
    """The cost of DP-SGD's LoRA layout: 1 + k texts per example encoded once per step,
    however many views the example has (each view drawing its own cost twice as much)."""
    users, targets, history, negatives = _batch(cm, small_split)
    shapes = record_encodings(monkeypatch, cm)
    views = [_short_view(history), _short_view(history, 0.3)]
    per_example_loss(cm, users, targets, history, negatives, text="trained", views=views)
    assert shapes == [(len(users), 1 + 4)]  # the default 4 drawn negatives


@pytest.mark.parametrize("with_view", [False, True])
def test_lora_gradient_through_drawn_negatives_is_unbiased(cm, small_split, with_view):
    """The mean over draws of the 2-negative estimate converges to the exact gradient,
    with the example alone and with a view sharing its draw."""
    batch = _batch(cm, small_split, n=3)
    views = [_short_view(batch[2])] if with_view else []
    cm.model.train()
    params = _lora(cm)
    exact = torch.autograd.grad(
        per_example_loss(
            cm, *batch, reduction="sum", text="trained", text_negatives=6, views=views
        ),
        params,
    )
    generator = torch.Generator().manual_seed(0)
    draws = 300
    mean = [torch.zeros_like(p) for p in params]
    one = None
    for _ in range(draws):
        loss = per_example_loss(
            cm,
            *batch,
            reduction="sum",
            text="trained",
            text_negatives=2,
            generator=generator,
            views=views,
        )
        grads = torch.autograd.grad(loss, params)
        for m, g in zip(mean, grads, strict=True):
            m += g / draws
        one = one or grads
    flat = lambda ts: torch.cat([t.flatten() for t in ts])  # noqa: E731
    error = float((flat(mean) - flat(exact)).norm() / flat(exact).norm())
    single = float((flat(one) - flat(exact)).norm() / flat(exact).norm())
    assert error < 0.1 < single  # one draw is noisy; their mean is the exact gradient


def test_drawn_weights_average_to_the_softmax_gradient():
    torch.manual_seed(0)
    logits = torch.randn(4, 9) * 2
    logits[1, 3] = float("-inf")  # a clash is never drawn
    logits[2, 0] = 50.0  # nearly all mass on the positive: weights near 0
    probs = torch.softmax(logits, -1)
    columns, weights = text_gradient_weights(probs, 20)  # k >= K: exact
    expected = torch.zeros_like(probs).scatter_add_(1, columns, weights)
    assert torch.allclose(expected[:, 1:], probs[:, 1:])
    assert torch.allclose(expected[:, 0], probs[:, 0] - 1)
    generator = torch.Generator().manual_seed(1)
    total = torch.zeros_like(probs)
    for _ in range(4000):
        columns, weights = text_gradient_weights(probs, 3, generator)
        assert columns.shape == (4, 4) and bool((columns[:, 0] == 0).all())
        assert not bool((columns[1] == 3).any())
        total.scatter_add_(1, columns, weights)
    assert torch.allclose(total / 4000, expected, atol=0.01)


def test_sights_sharing_one_draw_each_get_their_softmax_gradient():
    """Two sights of the same examples (other softmax weights, other loss weights) share
    one draw of negatives; each sight's weights average to its own exact gradient."""
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7) * 2
    logits[1, 0, 4] = float("-inf")  # masked in one sight only: still drawn for the other
    logits[0, 2, 0] = 60.0  # one sight with (nearly) no mass on its negatives
    probs = torch.softmax(logits, -1)
    mix = torch.tensor([1.0, 0.4])
    generator = torch.Generator().manual_seed(2)
    total = torch.zeros_like(probs)
    for _ in range(20000):
        columns, weights = text_gradient_weights(probs, 3, generator, mix)
        assert columns.shape == (3, 4) and weights.shape == (2, 3, 4)
        for sight in range(2):
            total[sight].scatter_add_(1, columns, weights[sight])
    expected = probs.clone()
    expected[:, :, 0] -= 1
    assert torch.allclose(total / 20000, expected, atol=0.025)
    exact_columns, exact = text_gradient_weights(probs, 6, None, mix)  # k >= K
    assert exact_columns.shape == (3, 7)
    assert torch.allclose(exact, expected)


def test_every_draw_of_a_dp_step_is_private(cm, small_split, monkeypatch):
    """The rows, negatives and LoRA's draws of a DP step come from the OS-seeded generator:
    the public generator is never advanced, and two runs with one seed differ."""
    seen = []

    def spy(cm_, users, targets, history, negatives, **kw):
        seen.append((targets.clone(), negatives.clone()))
        assert kw["generator"] is not None
        return per_example_loss(cm_, users, targets, history, negatives, **kw)

    monkeypatch.setattr("fedrec.privacy.dp_sgd.per_example_loss", spy)
    cfg = build_config(
        {"privacy-mode": "local", "batch-size": 12, "noise-multiplier": 1.0, "dp-text": "trained"}
    )
    runs = []
    for _ in range(2):
        rng = np.random.default_rng(7)
        state = rng.bit_generator.state
        trainer = trainer_for(cm, small_split.train, cfg, epochs=1, rng=rng)
        try:
            trainer._step(torch.arange(0, trainer.records, 3))
        finally:
            trainer.close()
        assert rng.bit_generator.state == state
        runs.append(seen.pop())
    (t1, n1), (t2, n2) = runs
    assert not torch.equal(n1, n2)
    assert not torch.equal(t1, t2)  # which interaction of each record: drawn privately too


def test_shared_draw_weights_stay_finite_and_one_sight_is_the_plain_draw(monkeypatch):
    """A drawn text that one sight all but rules out (weight ~1e-44) while another
    sight's negatives round to no mass at all (1 - p_pos == 0 in float32, though a
    negative holds 1e-11) gets bounded, finite weights in both sights (an inf or NaN
    would poison the batch's clipped sum); with one sight every drawn weight is the
    plain ``(1 - p_pos) / k``."""
    logits = torch.full((2, 1, 6), -200.0)
    logits[0, 0, :2] = torch.tensor([25.0, 0.0])  # sight 0: 1e-11 on column 1, rest 0
    logits[1, 0, :3] = torch.tensor([0.0, -100.0, 0.0])  # sight 1: ~1e-44 on column 1
    probs = torch.softmax(logits, -1)
    assert float(1 - probs[0, 0, 0]) == 0.0 and float(probs[0, 0, 1]) > 0
    mix = torch.tensor([1.0, 0.5])
    draw = torch.multinomial
    monkeypatch.setattr(torch, "multinomial", lambda m, k, **kw: torch.zeros(len(m), k).long())
    _, weights = text_gradient_weights(probs, 3, None, mix)  # column 1, three times
    assert bool(torch.isfinite(weights).all())
    assert float(weights.abs().max()) <= float(mix.sum() / (3 * mix.min()))
    monkeypatch.setattr(torch, "multinomial", draw)
    one = torch.softmax(torch.randn(4, 9), -1)
    _, weights = text_gradient_weights(one, 3, torch.Generator().manual_seed(0))
    assert torch.allclose(weights[:, 1:], ((1 - one[:, :1]) / 3).expand(4, 3), rtol=1e-5)
    assert torch.allclose(weights[:, 0], one[:, 0] - 1)

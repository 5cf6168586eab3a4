"""Clipping by group: each example's clipped gradient stays within the clipping norm."""

import pytest
import torch
from opacus import GradSampleModule

from fedrec.privacy.dp_optimizer import PrivateDPOptimizer, split_clipping
from fedrec.privacy.randomness import PrivateRandomness


def _clipped_sum(model, x, share, clip=1.0):
    """The clipped (not noised) sum of per-example gradients of ``model`` on ``x``."""
    gsm = GradSampleModule(model, loss_reduction="sum")
    params = list(model.parameters())
    opt = PrivateDPOptimizer(
        torch.optim.SGD(params, lr=0.1),
        noise_multiplier=0.0,
        max_grad_norm=clip,
        expected_batch_size=1,
        loss_reduction="sum",
    )
    opt.random = PrivateRandomness(torch.device("cpu"))
    first = {id(p) for p in model[0].parameters()}
    opt.clip_groups = split_clipping(opt.params, first, set(), clip, share) if share else None
    try:
        opt.zero_grad()
        (gsm(x) ** 2).sum().backward()
        opt.pre_step()
        return [p.grad.clone() for p in opt.params]
    finally:
        gsm._close()


@pytest.mark.parametrize("share", [0.0, 0.2, 0.6])
def test_each_example_moves_the_clipped_sum_by_at_most_the_clipping_norm(share):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    x = torch.randn(5, 3) * 10  # every example's gradient far above the norm
    total = _clipped_sum(model, x, share)
    parts = [_clipped_sum(model, x[i : i + 1], share) for i in range(5)]
    for j, t in enumerate(total):
        assert torch.allclose(t, sum(p[j] for p in parts), atol=1e-5)
    for grads in parts:
        first = torch.sqrt(sum((g**2).sum() for g in grads[:2]))
        rest = torch.sqrt(sum((g**2).sum() for g in grads[2:]))
        whole = torch.sqrt(first**2 + rest**2)
        assert float(whole) == pytest.approx(1.0, abs=1e-4)  # clipped to C exactly
        if share:  # each group to its own share: s·C and sqrt(1 - s²)·C
            assert float(first) == pytest.approx(share, abs=1e-4)
            assert float(rest) == pytest.approx((1 - share**2) ** 0.5, abs=1e-4)


def test_split_clipping_keeps_the_audit_canaries_at_the_full_norm():
    params = [torch.nn.Parameter(torch.zeros(2)) for _ in range(3)]
    groups, norms = split_clipping(params, {id(params[0])}, {id(params[2])}, 2.0, 0.6)
    assert groups == [0, 1, 2]
    assert norms == pytest.approx([1.2, 1.6, 2.0])
    assert sum(n**2 for n in norms[:2]) == pytest.approx(2.0**2)
    with pytest.raises(ValueError, match="share"):
        split_clipping(params, set(), set(), 1.0, 1.0)


def test_an_empty_batch_clips_to_nothing():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    total = _clipped_sum(model, torch.zeros(0, 3), 0.5)
    assert all(float(t.abs().max()) == 0.0 for t in total)


def test_dropout_inside_a_step_draws_from_the_os_and_leaves_the_public_stream_alone():
    random = PrivateRandomness(torch.device("cpu"))
    torch.manual_seed(0)
    expected_after = torch.rand(3)
    draws = []
    for _ in range(2):
        torch.manual_seed(0)  # the public seed, known to the server
        with random.global_torch():
            draws.append(torch.nn.functional.dropout(torch.ones(64), 0.5))
        assert torch.equal(torch.rand(3), expected_after)  # restored after the step
    assert not torch.equal(draws[0], draws[1])


@pytest.mark.parametrize("share", [0.0, 0.5])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_an_example_whose_gradient_is_not_finite_adds_nothing(share, bad):
    """A state built to overflow on one example's data: that example's gradient is NaN
    or inf, which no clipping factor bounds. It must add nothing, so the clipped sum is
    the other examples' alone and finite (a NaN release would say the example was there)."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    x = torch.randn(4, 3)
    poisoned = x.clone()
    poisoned[1, 0] = bad
    total = _clipped_sum(model, poisoned, share)
    others = _clipped_sum(model, x[[0, 2, 3]], share)
    assert all(torch.isfinite(t).all() for t in total)
    for t, o in zip(total, others, strict=True):
        assert torch.allclose(t, o, atol=1e-6)

"""DP-SGD: per-sample gradients, clipping, accounting, the privacy unit, private noise."""

import itertools

import numpy as np
import pytest
import torch
from opacus import GradSampleModule
from opacus.accountants import RDPAccountant

from fedrec.config import build_config
from fedrec.errors import ConfigError
from fedrec.privacy.calibration import epsilon_of
from fedrec.privacy.dp_sgd import (
    PER_SAMPLE_BUDGET_BYTES,
    DPSGDTrainer,
    dp_rows,
    physical_batch_size,
)
from fedrec.privacy.mechanism import count_records, resolve_local_mechanism
from fedrec.training.loss import UserView
from fedrec.training.per_example import per_example_loss
from fedrec.training.rows import build_rows
from fedrec.training.trainer import cold_tower_views, drop_scenario
from tests.conftest import nudged_catalog_model, record_encodings


def _trainer(cm, split, values, *, epochs=1, seed=0, **kw):
    """A trainer over the whole split with the mechanism ``values`` (config keys) give."""
    cfg = build_config({"privacy-mode": "local", **values})
    unit = cfg.train.privacy_unit
    records = count_records(split.train, unit, cfg.privacy.dp_window)
    mechanism = resolve_local_mechanism(
        cfg, population=records, records_per_client=records, epochs=epochs
    )
    rows = dp_rows(split.train, 20, mechanism)
    return DPSGDTrainer(
        cm, rows, cfg.train, cfg.privacy, mechanism, rng=np.random.default_rng(seed), **kw
    )


@pytest.fixture()
def cm(lora_cm):
    return lora_cm


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


def _reference_grads(cm, batch, text="frozen", **kw):
    """Each example's gradient, computed alone (a batch of one)."""
    params = [p for _, p in _trained(cm, text)]
    out = []
    for i in range(len(batch[0])):
        one = tuple(t[i : i + 1] for t in batch)
        loss = per_example_loss(cm, *one, text=text, **kw)
        out.append([g.detach() for g in torch.autograd.grad(loss, params)])
    return params, out


def _assert_hooks_match(cm, batch, params, names, reference, **kw):
    """The Opacus hooks' per-sample gradients of ``batch`` equal ``reference`` (each
    example's gradient alone); leaves no gradient behind."""
    gsm = GradSampleModule(cm.model, loss_reduction="mean")
    try:
        per_example_loss(cm, *batch, **kw).backward()
        for j, p in enumerate(params):
            assert p.grad_sample is not None
            for i in range(len(reference)):
                assert torch.allclose(p.grad_sample[i], reference[i][j], atol=1e-5), names[j]
    finally:
        gsm._close()
    for p in params:
        p.grad = None


def _fixed_draws(monkeypatch):
    """Make the draw of LoRA's negatives a function of each example's own weights (the
    same draw for an example alone or in a batch), so gradients can be compared."""

    def draw(mass, k, replacement=True, generator=None):
        top = torch.topk(mass, min(2, mass.shape[1])).indices
        return top.repeat(1, k)[:, :k]

    monkeypatch.setattr(torch, "multinomial", draw)


@pytest.mark.parametrize("text", ["frozen", "trained", "trained-exact"])
def test_hook_per_sample_gradients_match_one_example_at_a_time(cm, small_split, text, monkeypatch):
    """The Opacus hooks' per-sample gradients equal each example's gradient computed alone:
    frozen text tower; LoRA through 4 drawn negatives; LoRA through all 5 exactly."""
    rows = build_rows(small_split.train, 20)
    batch = _batch(rows, np.arange(2, 8), cm)
    _fixed_draws(monkeypatch)
    text, kw = ("trained", {"text_negatives": 5}) if text == "trained-exact" else (text, {})
    cm.model.train()
    params, reference = _reference_grads(cm, batch, text, **kw)
    names = [n for n, _ in _trained(cm, text)]
    lora = [j for j, n in enumerate(names) if "lora_" in n]
    assert bool(lora) == (text == "trained")
    for j in lora:  # every example moves every LoRA tensor
        assert all(float(ref[j].abs().max()) > 0 for ref in reference), names[j]
    _assert_hooks_match(cm, batch, params, names, reference, text=text, **kw)


@pytest.mark.parametrize("text", ["frozen", "trained"])
def test_dp_text_decides_whether_the_lora_tower_moves(cm, small_split, text):
    before = {n: p.detach().clone() for n, p in cm.model.named_parameters() if p.requires_grad}
    trainer = _trainer(cm, small_split, {"batch-size": 8, "noise-multiplier": 0.5, "dp-text": text})
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
    shapes = record_encodings(monkeypatch, cm)
    per_example_loss(cm, *batch, text="frozen")
    per_example_loss(cm, *batch, text="trained")
    per_example_loss(cm, *batch, text="trained", text_negatives=2)
    per_example_loss(cm, *batch, text="trained", text_negatives=7)
    # trained text only: the positive and dp-text-negatives (default 4) of the 7 per example
    assert shapes == [(4, 5), (4, 3), (4, 8)]
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


@pytest.mark.parametrize(("text", "share"), [("frozen", 0.5), ("trained", 0.0), ("trained", 0.3)])
def test_updates_are_the_sum_of_clipped_per_sample_gradients_over_the_batch_size(
    cm, small_split, text, share, monkeypatch
):
    """Flat clipping to C; with LoRA trained and dp-text-clip-share s > 0, LoRA's part of
    each example's gradient clipped to s·C and the rest to sqrt(1 - s²)·C."""
    _fixed_draws(monkeypatch)
    values = {
        "batch-size": 6,
        "noise-multiplier": 1.0,
        "max-grad-norm": 0.01,
        "privacy-unit": "user",
        "dp-text": text,
        "dp-text-clip-share": share,
    }
    trainer = _trainer(cm, small_split, values)
    rows = trainer.rows
    batch = _batch(rows, rows.owner_start[:6], cm)
    cm.model.train()
    params = trainer.optimizer.params
    assert len(params) == len(_trained(cm, text))
    trainer.close()  # reference gradients without hooks
    _, reference = _reference_grads(cm, batch, text)
    expected = [torch.zeros_like(p) for p in params]
    split = text == "trained" and share > 0  # frozen: LoRA is not trained, one clipping
    text_part = [split and n.startswith("encoder.") for n, _ in _trained(cm, text)]
    bounds = {True: share * 0.01, False: (1 - share**2) ** 0.5 * 0.01 if split else 0.01}
    for grads in reference:
        for part in (True, False):
            mine = [g for g, t in zip(grads, text_part, strict=True) if t == part]
            norm = torch.sqrt(sum((g**2).sum() for g in mine)) if mine else 0.0
            factor = min(1.0, bounds[part] / (float(norm) + 1e-6))
            for e, g, t in zip(expected, grads, text_part, strict=True):
                if t == part:
                    e += g * factor
    trainer = _trainer(cm, small_split, values)
    trainer.optimizer.noise_multiplier = 0.0  # the clipped sum alone
    trainer.optimizer.zero_grad()
    per_example_loss(cm, *batch, reduction="sum", text=text).backward()
    trainer.optimizer.pre_step()  # clip, sum, (no) noise, divide by the public batch size
    assert trainer.optimizer.expected_batch_size == 6
    for p, e in zip(trainer.optimizer.params, expected, strict=True):
        assert torch.allclose(p.grad, e / 6, atol=1e-6)
    trainer.close()
    total_norms = [float(torch.sqrt(sum((g**2).sum() for g in grads))) for grads in reference]
    assert min(total_norms) > 0.01  # clipping really bit


def test_epsilon_grows_and_matches_a_direct_accountant(cm, small_split):
    trainer = _trainer(cm, small_split, {"batch-size": 16, "noise-multiplier": 1.1}, epochs=2)
    trainer.epoch()
    first = trainer.report()
    trainer.epoch()
    second = trainer.report()
    trainer.close()
    assert 0 < first.epsilon < second.epsilon
    assert second.steps == 2 * first.steps == 2 * trainer.steps_per_epoch
    assert second.epsilon == pytest.approx(
        epsilon_of([(1.1, first.sample_rate, second.steps)], second.delta), rel=1e-9
    )
    direct = RDPAccountant()  # Opacus's RDP: looser than the PLD accountant training uses
    direct.history = [(1.1, first.sample_rate, second.steps)]
    assert second.epsilon < direct.get_epsilon(second.delta) and second.accountant == "pld"
    n = first.records
    assert second.delta == pytest.approx(min(1e-5, n**-1.1)) and second.randomness == "os"


def test_user_unit_makes_each_user_one_record(cm, small_split):
    trainer = _trainer(cm, small_split, {"privacy-unit": "user", "batch-size": 8})
    trainer.close()
    assert trainer.records == small_split.train["user"].nunique()
    picked = trainer._rows_of(torch.arange(trainer.records))
    assert sorted(trainer.rows.users[picked].tolist()) == sorted(
        small_split.train["user"].unique().tolist()
    )


def test_interaction_unit_records_are_user_windows_whose_histories_stay_inside(small_split):
    """The unit check: one interaction more or less changes exactly one record."""
    train = small_split.train
    day = 86_400
    rows = dp_rows(train, 20, _mechanism({"privacy-unit": "interaction"}, train))
    slots = train["timestamp"].to_numpy() // day
    for start, count in zip(rows.owner_start, rows.owner_count, strict=True):
        owner = slice(start, start + count)
        assert len(set(rows.users[owner].tolist())) == 1 and len(set(slots[owner])) == 1
        for j in range(start, start + count):  # history: earlier rows of the same record only
            known = rows.history[j][rows.history[j] >= 0]
            assert set(known.tolist()) <= set(rows.targets[start:j].tolist())
    # Remove one interaction: every record but the one holding it is unchanged.
    for victim in (0, len(train) // 2, len(train) - 1):
        fewer = train.drop(index=train.index[victim]).reset_index(drop=True)
        a, b = (
            _records(rows),
            _records(
                dp_rows(
                    fewer, 20, rows_mechanism := _mechanism({"privacy-unit": "interaction"}, fewer)
                )
            ),
        )
        assert rows_mechanism.unit == "interaction"
        assert len(a.symmetric_difference(b)) <= 2  # the old record and its changed self


def _mechanism(values, train):
    cfg = build_config({"privacy-mode": "local", **values})
    records = count_records(train, cfg.train.privacy_unit, cfg.privacy.dp_window)
    return resolve_local_mechanism(cfg, population=records, records_per_client=records, epochs=1)


def _records(rows):
    """Each record as its rows' (target, history) tuples."""
    return {
        tuple(
            (int(rows.targets[j]), tuple(rows.history[j].tolist()))
            for j in range(start, start + count)
        )
        for start, count in zip(rows.owner_start, rows.owner_count, strict=True)
    }


def test_rows_with_the_whole_history_would_make_one_interaction_touch_many_records(small_split):
    """Why records are windows: without them one interaction enters 1 + max-history rows."""
    train = small_split.train
    full = build_rows(train, 20)
    fewer = build_rows(train.drop(index=train.index[0]).reset_index(drop=True), 20)

    def rows_of(r):
        return {
            (int(r.users[j]), int(r.targets[j]), tuple(r.history[j].tolist()))
            for j in range(len(r))
        }

    assert len(rows_of(full) - rows_of(fewer)) > 2


def test_target_epsilon_sets_the_noise(cm, small_split):
    loose = _trainer(cm, small_split, {"batch-size": 16, "target-epsilon": 8}, epochs=3)
    loose.close()
    tight = _trainer(cm, small_split, {"batch-size": 16, "target-epsilon": 1}, epochs=3)
    tight.close()
    assert 0 < loose.noise_multiplier < tight.noise_multiplier
    assert loose.report().epsilon == 0.0  # nothing spent before training


@pytest.mark.parametrize("batch", [16, 23, 64, 1000])
def test_the_target_epsilon_is_reached_exactly_whatever_the_batch(cm, small_split, batch):
    """N / batch need not be whole: the noise is calibrated on the public steps."""
    trainer = _trainer(cm, small_split, {"batch-size": batch, "target-epsilon": 4}, epochs=2)
    try:
        steps = trainer.steps_per_epoch * 2
        # With the popularity histogram released first, both together reach the target.
        both = [*trainer.mechanism.before_training(), trainer.mechanism.spend(2)]
        assert trainer.mechanism.popularity_noise > 0
        assert trainer.mechanism.epsilon(both) == pytest.approx(4.0, rel=0.02)
        assert trainer.mechanism.epsilon(both) <= 4.0 * 1.001
        assert trainer.epsilon_after(steps) < 4.0  # the steps alone spend less
    finally:
        trainer.close()


def test_delta_must_be_below_one_over_n(cm, small_split):
    with pytest.raises(ConfigError, match="delta"):
        _trainer(cm, small_split, {"delta": 0.5, "allow-large-delta": True})
    with pytest.raises(ConfigError, match=r"above 1e-3.*allow-large-delta"):
        build_config({"delta": 0.01})


def test_noise_multiplier_zero_under_dp_is_refused_at_config_time():
    with pytest.raises(ConfigError, match="adds no noise"):
        build_config({"privacy-mode": "local", "noise-multiplier": 0})
    build_config({"privacy-mode": "local", "noise-multiplier": 0, "target-epsilon": 2})


def test_an_empty_poisson_batch_still_adds_noise_and_is_accounted(cm, small_split):
    trainer = _trainer(cm, small_split, {"batch-size": 4, "noise-multiplier": 1.0})
    trainer.random.poisson = lambda n, rate: torch.zeros(0, dtype=torch.long)  # nobody
    before = {n: p.detach().clone() for n, p in cm.model.named_parameters() if p.requires_grad}
    try:
        stats = trainer.epoch()
    finally:
        trainer.close()
    assert stats.examples == 0
    assert sum(int(h[2]) for h in trainer.history()) == trainer.steps_per_epoch  # all accounted
    moved = [
        n for n, p in cm.model.named_parameters() if n in before and not torch.equal(p, before[n])
    ]
    assert any(n.startswith("item_head") for n in moved)  # noise was released


def _one_dp_epoch(cm, split, physical, monkeypatch):
    """Train one epoch from cm's current state with replayed OS seeds (a test-only replay);
    the trained tensors after it, and the sizes of every backward pass."""
    sizes = []

    def spy(cm_, users, *rest, **kw):
        sizes.append(len(users))
        return per_example_loss(cm_, users, *rest, **kw)

    monkeypatch.setattr("fedrec.privacy.dp_sgd.per_example_loss", spy)
    seeds = itertools.count(1000)
    monkeypatch.setattr("fedrec.privacy.randomness.os_seed", lambda: next(seeds))
    # The histories' shaping (the cold view) draws from the OS too: replayed alike.
    shaping = itertools.count(5000)
    monkeypatch.setattr(
        "fedrec.privacy.dp_sgd.private_numpy_rng", lambda: np.random.default_rng(next(shaping))
    )
    trainer = _trainer(
        cm,
        split,
        {"batch-size": 12, "noise-multiplier": 0.7, "dp-physical-batch": physical},
        seed=1,
    )
    try:
        trainer.epoch()
    finally:
        trainer.close()
    after = {n: p.detach().clone() for n, p in _trained(cm)}
    return after, sizes, trainer.history()


def test_a_poisson_batch_split_into_pieces_gives_the_same_noisy_step(cm, small_split, monkeypatch):
    """dp-physical-batch bounds memory without changing the mechanism: the pieces'
    clipped gradients are summed and noised once per Poisson batch, not once a piece."""
    start = {n: p.detach().clone() for n, p in cm.model.named_parameters()}
    whole, whole_sizes, whole_history = _one_dp_epoch(cm, small_split, 1000, monkeypatch)
    with torch.no_grad():
        for n, p in cm.model.named_parameters():
            p.copy_(start[n])
    split, split_sizes, split_history = _one_dp_epoch(cm, small_split, 4, monkeypatch)
    assert max(split_sizes) <= 4 < max(whole_sizes)  # batches really were split
    assert sum(split_sizes) == sum(whole_sizes)
    assert split_history == whole_history  # one accounted step per Poisson batch
    for n, value in whole.items():
        assert not torch.equal(value, start[n]), n
        assert torch.allclose(split[n], value, atol=1e-6), n


def _epoch_from(cm, split, start, values):
    """One DP-SGD epoch from ``start`` with public seed 0; what it trained."""
    with torch.no_grad():
        for n, p in cm.model.named_parameters():
            p.copy_(start[n])
    torch.manual_seed(0)  # the public seed, as the server knows it
    trainer = _trainer(cm, split, values, seed=0)
    try:
        trainer.epoch()
    finally:
        trainer.close()
    return {n: p.detach().clone() for n, p in _trained(cm, values.get("dp-text", "frozen"))}


@pytest.mark.parametrize("text", ["frozen", "trained"])
def test_the_server_cannot_replay_the_noise_with_the_public_seed(cm, small_split, text):
    """Two runs with identical inputs and seeds differ (the noise is private): replaying
    the public seed gives another noise, so subtracting it leaves noise, not the update;
    with LoRA trained too, LoRA's tensors included."""
    start = {n: p.detach().clone() for n, p in cm.model.named_parameters()}
    values = {"batch-size": 12, "noise-multiplier": 1.0, "dp-text": text}
    first = _epoch_from(cm, small_split, start, values)
    replay = _epoch_from(cm, small_split, start, values)
    for n in first:
        gap = float((first[n] - replay[n]).abs().max())
        assert gap > 1e-4, f"{n}: the replay recovered the update (gap {gap:g})"


def test_the_cold_tower_is_noised_and_its_release_cannot_be_replayed(tiny_bert_path, small_split):
    """With ``cold-head`` the cold tower is noised under DP like the rest (an epoch of
    empty batches still moves it), and two epochs from the same start with the same
    public seed leave it (and everything else) apart, so the server cannot subtract
    the noise from what it receives."""
    cm = nudged_catalog_model(tiny_bert_path, small_split, **{"cold-head": True})
    start = {n: p.detach().clone() for n, p in cm.model.named_parameters()}
    values = {"batch-size": 12, "noise-multiplier": 1.0}
    first = _epoch_from(cm, small_split, start, values)
    replay = _epoch_from(cm, small_split, start, values)
    assert {"cold_head.weight", "cold_head.bias", "cold_position.weight"} <= set(first)
    for n in first:
        gap = float((first[n] - replay[n]).abs().max())
        assert gap > 1e-4, f"{n}: the replay recovered the update (gap {gap:g})"
    trainer = _trainer(cm, small_split, {"batch-size": 4, "noise-multiplier": 1.0})
    trainer.random.poisson = lambda n, rate: torch.zeros(0, dtype=torch.long)  # nobody
    before = {n: p.detach().clone() for n, p in cm.model.named_parameters()}
    try:
        assert trainer.epoch().examples == 0
    finally:
        trainer.close()
    tower = dict(cm.model.named_parameters())
    for n in ("cold_head.weight", "cold_head.bias", "cold_position.weight"):
        assert not torch.equal(tower[n], before[n]), f"{n} got no noise"


def test_an_empty_batch_draws_its_noise_from_the_private_generator(cm, small_split, monkeypatch):
    monkeypatch.setattr(
        "fedrec.privacy.randomness.PrivateRandomness.poisson",
        lambda self, n, rate: torch.zeros(0, dtype=torch.long),
    )
    start = {n: p.detach().clone() for n, p in cm.model.named_parameters()}
    values = {"batch-size": 12, "noise-multiplier": 1.0}
    first = _epoch_from(cm, small_split, start, values)
    again = _epoch_from(cm, small_split, start, values)
    assert any(not torch.equal(first[n], again[n]) for n in first)


def test_secure_mode_draws_the_noise_from_a_csprng(cm, small_split):
    trainer = _trainer(cm, small_split, {"secure-mode": True, "noise-multiplier": 2.0})
    trainer.close()
    assert trainer.report().randomness == "chacha20"
    noise = trainer.random.normal(2.0, torch.zeros(200_000))
    assert float(noise.mean()) == pytest.approx(0.0, abs=0.02)
    assert float(noise.std()) == pytest.approx(2.0, rel=0.01)
    assert not torch.equal(noise, trainer.random.normal(2.0, torch.zeros(200_000)))


def test_the_physical_batch_is_sized_from_the_trained_coordinates():
    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert physical_batch_size(32, 4 * 10**9, cpu) == 32  # asked for: kept
    size = 4 * 100_000  # 100,000 float32 values
    assert physical_batch_size(0, size, cpu) == PER_SAMPLE_BUDGET_BYTES["cpu"] // size
    assert physical_batch_size(0, size, gpu) == PER_SAMPLE_BUDGET_BYTES["cuda"] // size
    assert physical_batch_size(0, 4 * 10**12, cpu) == 1  # never zero
    with pytest.raises(ConfigError, match="dp-physical-batch"):
        build_config({"dp-physical-batch": -1})


def test_scenario_terms_get_exact_per_sample_gradients(tiny_bert_path, small_split):
    """With scenario-input the new tensors are clipped per example like
    every other one: the hooks' per-sample gradients equal each example's alone, and a
    whole DP step (shortened, scenario-dropped histories) moves them."""
    cm = nudged_catalog_model(tiny_bert_path, small_split, **{"scenario-input": True})
    rows = build_rows(small_split.train, 20)
    batch = _batch(rows, np.arange(2, 8), cm)
    scen = cm.model.item_scenario[batch[1]].clone()
    scen[::2] = cm.model.n_scenarios  # half for any scenario
    cm.model.train()
    trained = _trained(cm)
    params, reference = [p for _, p in trained], []
    for i in range(len(batch[0])):
        one = tuple(t[i : i + 1] for t in batch)
        loss = per_example_loss(cm, *one, scenario=scen[i : i + 1])
        reference.append([g.detach() for g in torch.autograd.grad(loss, params)])
    names = [n for n, _ in trained]
    new = [j for j, n in enumerate(names) if n.startswith("scenario_")]
    assert len(new) == 2
    _assert_hooks_match(cm, batch, params, names, reference, scenario=scen)
    before = {n: p.detach().clone() for n, p in trained}
    values = {
        "batch-size": 8,
        "noise-multiplier": 0.5,
        "short-history-share": 0.5,
        "scenario-dropout-share": 0.5,
    }
    trainer = _trainer(cm, small_split, values)
    public = trainer.rng.bit_generator.state
    try:
        trainer.epoch()
    finally:
        trainer.close()
    assert trainer.rng.bit_generator.state == public  # shaped from the OS, not the seed
    after = dict(cm.model.named_parameters())
    assert all(not torch.equal(before[names[j]], after[names[j]]) for j in new)


@pytest.mark.parametrize(
    ("text", "model"),
    [
        ("frozen", "plain"),
        ("trained", "plain"),
        ("frozen", "scenario-input"),
        ("trained", "cold-head"),
        ("frozen", "cold-head,scenario-input"),
    ],
)
def test_the_extra_views_are_clipped_with_their_own_example(
    tiny_bert_path, small_split, text, model, monkeypatch
):
    """With ``cold-view-weight`` and ``scenario-view-weight`` each example's loss reads the
    user three times (its history, a cold view and a new-to-scenario view ranked among
    its scenario's items; with ``scenario-input`` the example asked for its target's
    scenario or any, the scenario view for its target's): the hooks' per-sample
    gradients still equal each example's gradient alone, the views change them, and a
    DP epoch draws the views from the OS, not the public seed, each from its own
    example's history. With ``cold-head`` a fourth view, the owner's first clicks
    through the cold tower, reaches no part of the item tower (its item side
    detached), and the hooks still agree."""
    options = set(model.split(",")) - {"plain"}
    conditioned, cold_head = "scenario-input" in options, "cold-head" in options
    cm = nudged_catalog_model(tiny_bert_path, small_split, **dict.fromkeys(options, True))
    rows = build_rows(small_split.train, 20)
    idx = np.arange(2, 8)
    batch = _batch(rows, idx, cm)
    cold = batch[2][:, :5].clone()
    cold[::2] = -1  # profile-only views
    cold[1::2, 2:] = -1
    scen = cm.item_scenario
    away = drop_scenario(rows.history[idx], rows.targets[idx], scen, 1.0, np.random.default_rng(0))
    request = torch.as_tensor(scen[rows.targets[idx]])
    views = [UserView(0.5, cold), UserView(0.3, torch.as_tensor(away), request)]
    if cold_head:
        first = cold_tower_views(rows, idx, np.random.default_rng(0))
        views.append(UserView(1.0, torch.as_tensor(first), None, cold_tower=True))
    asked = {}
    if conditioned:  # the example itself: half for its target's scenario, half for any
        asked["scenario"] = request.clone()
        asked["scenario"][::2] = cm.model.n_scenarios
    _fixed_draws(monkeypatch)
    cm.model.train()
    params = [p for _, p in _trained(cm, text)]
    names = [n for n, _ in _trained(cm, text)]
    reference, without = [], []
    for i in range(len(batch[0])):
        one = tuple(t[i : i + 1] for t in batch)
        mine = [view.take(torch.tensor([i])) for view in views]
        own = {k: v[i : i + 1] for k, v in asked.items()}
        loss = per_example_loss(cm, *one, text=text, views=mine, **own)
        reference.append([g.detach() for g in torch.autograd.grad(loss, params)])
        alone = per_example_loss(cm, *one, text=text, **own)
        plain = torch.autograd.grad(alone, params, allow_unused=True)  # no cold tower in it
        without.append(
            [torch.zeros_like(p) if g is None else g for g, p in zip(plain, params, strict=True)]
        )
    assert not all(
        torch.allclose(r, w)
        for ref, wo in zip(reference, without, strict=True)
        for r, w in zip(ref, wo, strict=True)
    )
    _assert_hooks_match(cm, batch, params, names, reference, text=text, views=views, **asked)
    seen = []

    def spy(cm_, users, targets, history, negatives, **kw):
        seen.append((kw["views"], targets.clone(), history.clone()))
        return per_example_loss(cm_, users, targets, history, negatives, **kw)

    monkeypatch.setattr("fedrec.privacy.dp_sgd.per_example_loss", spy)
    values = {"batch-size": 8, "cold-view-weight": 0.5, "scenario-view-weight": 0.3}
    trainer = _trainer(cm, small_split, values)
    public = trainer.rng.bit_generator.state
    try:
        trainer.epoch()
    finally:
        trainer.close()
    assert trainer.rng.bit_generator.state == public  # views drawn from the OS
    assert seen
    for views_seen, targets, history in seen:
        cold_view, scenario_view, *tower = views_seen
        assert cold_view.weight == 0.5 and scenario_view.weight == 0.3
        assert not cold_view.cold_tower and not scenario_view.cold_tower
        assert len(tower) == int(cold_head)
        for view in tower:  # the owner's first clicks: the oldest of the row's history
            assert view.weight == 1.0 and view.cold_tower
            for row, full in zip(view.history, history, strict=True):
                kept, known = row[row >= 0], full[full >= 0]
                assert torch.equal(kept, known[len(known) - len(kept) :])
        n = (cold_view.history >= 0).sum(1)
        assert (n <= 5).all()
        for row, full, k in zip(cold_view.history, history, n, strict=True):
            assert torch.equal(row[:k], full[:k]) and (row[k:] == -1).all()  # a prefix
        assert torch.equal(scenario_view.scenario, torch.as_tensor(scen)[targets])
        pairs = zip(scenario_view.history, history, scenario_view.scenario, strict=True)
        for row, full, s in pairs:
            kept = row[row >= 0]
            assert set(kept.tolist()) <= set(full[full >= 0].tolist())  # its own items
            assert int((torch.as_tensor(scen)[kept] == s).sum()) <= 3

"""The ledger: one typed line per spend, appended whole."""

from __future__ import annotations

import dataclasses
import json

from fedrec.privacy.ledger import FIELDS, LEDGER, LedgerEntry, PrivacyLedger, PrivacySpend

SPEND = PrivacySpend(
    noise_multiplier=1.1,
    max_grad_norm=1.0,
    sample_rate=0.01,
    delta=1e-6,
    records=1000,
    steps=100,
    epsilon=2.5,
    epsilon_round=1.0,
)


def test_a_spend_becomes_its_ledger_line():
    entry = SPEND.entry(3, 7, "local", "user", "os")
    assert entry.round == 3 and entry.client == 7 and entry.unit == "user"
    assert entry.steps == 100 and entry.trained and entry.epsilon_unsampled is None
    assert (entry.noise_multiplier, entry.sample_rate, entry.epsilon) == (1.1, 0.01, 2.5)
    declined = dataclasses.replace(SPEND, steps=0).entry(4, 7, "local", "user", "os")
    assert not declined.trained


def test_lines_are_appended_whole_with_every_field_in_order(tmp_path):
    ledger = PrivacyLedger(tmp_path)
    ledger.append(SPEND.entry(1, 0, "local", "interaction", "os"))
    ledger.append(SPEND.entry(2, 0, "local", "interaction", "os"))
    lines = (tmp_path / LEDGER).read_text().splitlines()
    assert len(lines) == 2
    assert list(json.loads(lines[0])) == list(FIELDS)
    assert [e["round"] for e in ledger.read()] == [1, 2]
    assert tuple(f.name for f in dataclasses.fields(LedgerEntry)) == FIELDS


def test_a_batch_of_lines_chains_like_lines_appended_one_by_one(tmp_path):
    entries = [
        PrivacySpend(1.1, 1.0, 0.1, 1e-5, 100, 3, 0.5 * (i + 1), 0.5).entry(
            1, i, "central", "user", "os"
        )
        for i in range(5)
    ]
    one = PrivacyLedger(tmp_path / "one")
    (tmp_path / "one").mkdir()
    for entry in entries:
        one.append(entry)
    (tmp_path / "many").mkdir()
    many = PrivacyLedger(tmp_path / "many")
    many.extend(entries[:2])
    many.extend([])
    many.extend(entries[2:])
    assert (tmp_path / "many" / LEDGER).read_bytes() == (tmp_path / "one" / LEDGER).read_bytes()
    assert (
        (many.count, many.head)
        == (one.count, one.head)
        == (5, PrivacyLedger(tmp_path / "one").head)
    )

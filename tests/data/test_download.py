"""Tests of the MovieLens downloader, served from local file:// URLs (no network)."""

from __future__ import annotations

import dataclasses
import hashlib
import zipfile
from pathlib import Path

import pytest

from fedrec.data import download
from fedrec.data.download import download_dataset
from fedrec.data.movielens import load_movielens
from fedrec.errors import ConfigError, DataError
from tests.data.fixtures import write_ml100k

NAME = "movielens-100k"


def _fake_zip(tmp_path: Path) -> Path:
    """A zip laid out like ml-100k.zip (one top folder ml-100k/)."""
    source = write_ml100k(tmp_path / "src", n_users=3, n_items=5, per_user=2)
    archive = tmp_path / "served" / "ml-100k.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for file in sorted(source.iterdir()):
            zf.write(file, f"ml-100k/{file.name}")
    return archive


def _serve(monkeypatch: pytest.MonkeyPatch, archive: Path, md5: str | None) -> None:
    entry = dataclasses.replace(download.DATASETS[NAME], url=archive.as_uri(), md5=md5)
    monkeypatch.setitem(download.DATASETS, NAME, entry)


def _md5(file: Path) -> str:
    return hashlib.md5(file.read_bytes()).hexdigest()


def test_pinned_checksums_are_known() -> None:
    assert download.DATASETS["movielens-100k"].md5 == "0e33842e24a9c977be4e0107933c0723"
    assert download.DATASETS["movielens-1m"].md5 == "c4d9eecfca2ab87c1945afe126590906"
    assert download.DATASETS["movielens-latest-small"].md5 is None  # read from .md5 file


def test_success_unpacks_and_leaves_no_temporaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _fake_zip(tmp_path)
    _serve(monkeypatch, archive, _md5(archive))
    dest = tmp_path / "data"
    root = download_dataset(NAME, dest, progress=False)
    assert root == dest / "ml-100k"
    assert [p.name for p in dest.iterdir()] == ["ml-100k"]
    assert len(load_movielens(dest, NAME).interactions) == 6


def test_existing_folder_is_kept_unless_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _fake_zip(tmp_path)
    _serve(monkeypatch, archive, _md5(archive))
    dest = tmp_path / "data"
    marker = dest / "ml-100k" / "mine.txt"
    marker.parent.mkdir(parents=True)
    marker.write_text("keep")
    assert download_dataset("ml-100k", dest, progress=False) == dest / "ml-100k"
    assert marker.exists()
    download_dataset(NAME, dest, force=True, progress=False)
    assert not marker.exists() and (dest / "ml-100k" / "u.data").is_file()
    assert [p.name for p in dest.iterdir()] == ["ml-100k"]


def test_checksum_mismatch_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = _fake_zip(tmp_path)
    _serve(monkeypatch, archive, "0" * 32)
    dest = tmp_path / "data"
    with pytest.raises(DataError) as err:
        download_dataset(NAME, dest, progress=False)
    text = str(err.value)
    assert "checksum mismatch" in text and "0" * 32 in text and _md5(archive) in text
    assert "nothing was kept" in text
    assert list(dest.iterdir()) == []


def test_checksum_read_from_published_md5_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _fake_zip(tmp_path)
    md5_file = archive.with_name(archive.name + ".md5")
    md5_file.write_text(f"MD5 (ml-100k.zip) = {_md5(archive)}\n")
    _serve(monkeypatch, archive, None)
    assert download_dataset(NAME, tmp_path / "data", progress=False).is_dir()
    md5_file.write_text(f"MD5 (ml-100k.zip) = {'f' * 32}\n")
    with pytest.raises(DataError, match="checksum mismatch"):
        download_dataset(NAME, tmp_path / "other", progress=False)


def test_network_failure_tells_to_download_by_hand(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _serve(monkeypatch, tmp_path / "absent" / "ml-100k.zip", "0" * 32)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match=r"could not download .*by hand.*data-path"):
        download_dataset(NAME, dest, progress=False)
    assert list(dest.iterdir()) == []


def test_not_a_zip_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "ml-100k.zip"
    fake.write_bytes(b"not a zip")
    _serve(monkeypatch, fake, _md5(fake))
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="not a valid zip"):
        download_dataset(NAME, dest, progress=False)
    assert list(dest.iterdir()) == []


def test_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="movielens-1m"):
        download_dataset("netflix", tmp_path)

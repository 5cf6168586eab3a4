"""Download, verify and unpack the MovieLens zips published by GroupLens.

Checksums: the MD5 of ``ml-100k.zip`` and ``ml-1m.zip`` are pinned in
:data:`DATASETS` (the values GroupLens publishes in ``<zip>.md5`` next to each zip,
also pinned by other public dataset registries). ``ml-latest-small.zip`` is
re-released from time to time, so its MD5 is not pinned: it is read from the
``ml-latest-small.zip.md5`` file published next to the zip, at download time.

Nothing half-written is ever left under the final name: the zip is streamed to a
hidden temporary file in ``dest``, verified, unpacked into a hidden temporary folder,
and only then renamed to ``dest/<folder>``; the temporaries are always removed.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from tqdm import tqdm

from fedrec.errors import ConfigError, DataError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Archive:
    """One downloadable zip: where it is, the folder it unpacks to, its MD5."""

    url: str
    folder: str
    md5: str | None  # None: read from ``url + ".md5"`` at download time


_BASE = "https://files.grouplens.org/datasets/movielens/"
DATASETS: dict[str, Archive] = {
    "movielens-100k": Archive(_BASE + "ml-100k.zip", "ml-100k", "0e33842e24a9c977be4e0107933c0723"),
    "movielens-1m": Archive(_BASE + "ml-1m.zip", "ml-1m", "c4d9eecfca2ab87c1945afe126590906"),
    "movielens-latest-small": Archive(_BASE + "ml-latest-small.zip", "ml-latest-small", None),
}
_CHUNK = 1 << 20
_TIMEOUT_S = 60
_MD5 = re.compile(r"\b[0-9a-fA-F]{32}\b")
_NETWORK_ERRORS = (urllib.error.URLError, TimeoutError, ConnectionError, http.client.HTTPException)


def download_dataset(
    name: str, dest: str | Path, *, force: bool = False, progress: bool = True
) -> Path:
    """Fetch dataset ``name`` into ``dest`` and return the unpacked folder.

    Args:
        name: ``"movielens-100k"``, ``"movielens-1m"`` or ``"movielens-latest-small"``
            (the folder names ``ml-100k`` etc. are accepted too).
        dest: the folder to put it in (created if needed).
        force: download again even if ``dest/<folder>`` already exists.
        progress: show a progress bar on stderr.

    Raises:
        ConfigError: an unknown dataset name.
        DataError: a network failure, or a checksum mismatch (nothing is kept).
    """
    archive = _archive(name)
    dest = Path(dest)
    target = dest / archive.folder
    if target.is_dir() and not force:
        logger.info("%s already exists; not downloading it again (use force).", target)
        return target
    dest.mkdir(parents=True, exist_ok=True)
    expected = archive.md5 or _published_md5(archive.url)
    part: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            dir=dest, prefix=f".{archive.folder}.", suffix=".zip.part", delete=False
        ) as out:
            part = Path(out.name)
            actual = _stream(archive.url, out, archive.folder, progress)
        if actual != expected.lower():
            raise DataError(
                f"checksum mismatch for {archive.url}: expected MD5 {expected}, got {actual}. "
                f"The download was deleted and nothing was kept in {dest}. Fix: try again; "
                f"if it fails again, download the zip by hand, unzip it, and pass the "
                f"folder as data-path."
            )
        _unpack(part, archive, target)
    finally:
        if part is not None:
            part.unlink(missing_ok=True)
    logger.info("downloaded %s to %s", archive.url, target)
    return target


def _archive(name: str) -> Archive:
    for key, archive in DATASETS.items():
        if name in (key, archive.folder):
            return archive
    raise ConfigError(
        f"no download known for dataset {name!r}. Fix: use one of {sorted(DATASETS)}, "
        f"or download the data by hand and pass data-path."
    )


def _network_error(url: str, err: Exception) -> DataError:
    return DataError(
        f"could not download {url} ({err}). Fix: check the connection, or download it by "
        f"hand, unzip it, and pass the unzipped folder as data-path."
    )


def _published_md5(url: str) -> str:
    try:
        with urllib.request.urlopen(url + ".md5", timeout=_TIMEOUT_S) as response:
            text = response.read(4096).decode("ascii", errors="replace")
    except _NETWORK_ERRORS as err:
        raise _network_error(url + ".md5", err) from err
    found = _MD5.search(text)
    if found is None:
        raise DataError(
            f"{url}.md5 holds no MD5 checksum ({text[:80]!r}). Fix: download the zip by "
            f"hand, check it, unzip it, and pass the folder as data-path."
        )
    return found.group(0).lower()


def _stream(url: str, out: IO[bytes], label: str, progress: bool) -> str:
    """Copy ``url`` into ``out`` chunk by chunk; return the MD5 of what was written."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=label, disable=not progress
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except _NETWORK_ERRORS as err:
        raise _network_error(url, err) from err
    return digest.hexdigest()


def _unpack(zip_path: Path, archive: Archive, target: Path) -> None:
    """Unzip into a hidden staging folder, then swap it in under ``target``."""
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{archive.folder}.unzip."))
    try:
        try:
            with zipfile.ZipFile(zip_path) as zf:
                zf.extractall(staging)  # extractall drops absolute paths and '..' parts
        except zipfile.BadZipFile as err:
            raise DataError(
                f"{archive.url} is not a valid zip ({err}); nothing was kept. Fix: try "
                f"again, or download it by hand and pass the unzipped folder as data-path."
            ) from err
        unpacked = staging / archive.folder
        if not unpacked.is_dir():
            raise DataError(
                f"{archive.url} holds no {archive.folder}/ folder; nothing was kept. Fix: "
                f"download it by hand and pass the unzipped folder as data-path."
            )
        old = staging / ".previous"
        if target.exists():
            target.rename(old)
        try:
            unpacked.rename(target)
        except OSError:
            if old.exists():
                old.rename(target)
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)

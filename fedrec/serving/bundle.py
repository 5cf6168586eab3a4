"""The serving bundle: everything serving needs from a run, and nothing private.

``fedrec export RUN_DIR --out DIR`` writes::

    DIR/bundle.json            format, version, what the model needs to be rebuilt (and
                               with --cold-run the route: --cold-clicks, the run's path)
    DIR/config.toml            the run's resolved configuration
    DIR/state.safetensors      the trainable state (the DP release under DP)
    DIR/catalog.parquet        the public catalog: item_id, title, attributes, scenario, warm
    DIR/vectors.safetensors    every catalog item's vector and score offset, precomputed
    DIR/model_card.json, .md   dataset, metrics, and the privacy guarantee as audited
    DIR/added_items.parquet    items added while serving (written atomically; optional)
    DIR/cold/                  with --cold-run: a second run's bundle, which serves requests
                               knowing at most --cold-clicks items (see ``cold_route``)

No interaction, history, profile, ledger or client state is copied: what the
bundle holds is the released model and the public catalog. ``warm`` (which
items are not new arrivals) is catalog knowledge.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save

from fedrec.config import Config, build_config, known_keys, load_toml
from fedrec.data.loading import load_dataset, split_loaded
from fedrec.device import pick_device
from fedrec.errors import FedrecError
from fedrec.files import atomic_write_bytes, atomic_write_json, atomic_write_text, parquet_bytes
from fedrec.models.catalog_model import build_catalog_model
from fedrec.models.state import load_trainable_state
from fedrec.runs.rundir import CONFIG, STATE, RunDir
from fedrec.serving.model_card import model_card, model_card_markdown

log = logging.getLogger(__name__)

FORMAT = "fedrec-bundle"
VERSION = 2  # 2: a bundle with a cold-start route (plain bundles are still written as 1)
MANIFEST = "bundle.json"
CATALOG = "catalog.parquet"
VECTORS = "vectors.safetensors"
ADDED = "added_items.parquet"
CARD = "model_card.json"
CARD_MD = "model_card.md"
COLD = "cold"


@dataclass(frozen=True)
class Catalog:
    """The items serving ranks: their public fields, vectors and score offsets."""

    items: pd.DataFrame  # item_id, title, attributes, scenario, warm, added
    vectors: np.ndarray  # [n, d] unit item vectors
    offsets: np.ndarray  # [n] score offsets (learned bias of warm items, 0 for cold)


def is_bundle(path: str | Path) -> bool:
    return (Path(path) / MANIFEST).is_file()


#: Every file a bundle holds: ``--overwrite`` replaces a folder holding only these.
BUNDLE_FILES = frozenset({MANIFEST, CATALOG, VECTORS, ADDED, CARD, CARD_MD, STATE, CONFIG, COLD})


@dataclass(frozen=True)
class ColdRoute:
    """Requests knowing at most ``max_clicks`` catalog items go to the bundle in ``COLD``."""

    max_clicks: int


def cold_route(manifest: dict[str, Any]) -> ColdRoute | None:
    """The bundle's cold-start route, or None where one model serves every request."""
    route = manifest.get("cold_route")
    if route is None:
        return None
    clicks = route.get("max_clicks") if isinstance(route, dict) else None
    if not isinstance(clicks, int) or isinstance(clicks, bool) or clicks < 0:
        raise FedrecError(
            f"the bundle's cold_route {route!r} is damaged: export it again "
            "('fedrec export RUN_DIR --out DIR --cold-run COLD_RUN_DIR')."
        )
    return ColdRoute(clicks)


def export_bundle(
    run_dir: str | Path,
    out: str | Path,
    *,
    overwrite: bool = False,
    added: pd.DataFrame | None = None,
    cold_run: str | Path | None = None,
    cold_clicks: int = 5,
) -> Path:
    """Write the serving bundle of ``run_dir`` into ``out``; returns ``out``. The bundle is
    built beside ``out`` and moved in when complete, so a failed export leaves ``out`` as
    it was; ``overwrite`` replaces only a bundle (never the run, nor other files).
    ``added``: items added while serving an earlier bundle, encoded again by this model
    (those the catalog now holds itself keep the catalog's entry). ``cold_run``: a second
    run over the same catalog (e.g. trained with ``short-history-from = first``) that
    serves every request knowing at most ``cold_clicks`` items; the model card states the
    two models' guarantees composed."""
    run = RunDir(run_dir).require()
    out = Path(out)
    cold = None if cold_run is None else RunDir(cold_run).require()
    if cold is not None:
        if is_bundle(cold.path):
            raise FedrecError(
                f"--cold-run {cold.path} is a serving bundle, not a run: pass the --out of the "
                "'fedrec train' or 'fedrec simulate' run that trained the cold-start model."
            )
        if cold.path.resolve() == run.path.resolve():
            raise FedrecError(
                "--cold-run is the main run: the cold-start model is a second run, trained "
                "for users known by few items (e.g. --set short-history-from=first)."
            )
        where, inside = out.resolve(), cold.path.resolve()
        if where == inside or where in inside.parents or inside in where.parents:
            raise FedrecError(
                f"--out {out} is, holds or sits inside the cold-start run {cold.path}: choose "
                "a folder outside it."
            )
        if cold_clicks < 0:
            raise FedrecError(f"--cold-clicks {cold_clicks}: use 0 or more known items.")
    _check_out(run.path, out, overwrite)
    if added is None and overwrite and is_bundle(out):
        added = kept_added(out)  # items added while serving the bundle replaced
    out.parent.mkdir(parents=True, exist_ok=True)
    building = out.parent / f".{out.name}.building"
    shutil.rmtree(building, ignore_errors=True)
    building.mkdir()
    try:
        _write_bundle(run, building)
        if cold is not None:
            _route_cold(building, cold, cold_clicks)
        if added is not None and len(added):
            _add_again(building, added)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    building.rename(out)
    return out


def _add_again(bundle: Path, added: pd.DataFrame) -> None:
    from fedrec.serving.recommender import Recommender

    rec = Recommender.load(bundle)
    known = added["item_id"].astype(str).isin(rec.row)
    if known.any():
        log.warning(
            "%d item(s) added while serving are in the new catalog now (e.g. %r): the "
            "catalog's entries are kept.",
            int(known.sum()),
            str(added.loc[known, "item_id"].iloc[0]),
        )
    if (~known).any():
        rec.add_items(added[~known].to_dict("records"))


def _check_out(run: Path, out: Path, overwrite: bool) -> None:
    """Refuse an ``out`` that is the run or holds it, a file, or (without ``overwrite``,
    or holding anything but a bundle's files) a folder with files in it."""
    _check_outside(run, out)
    if out.exists() and not out.is_dir():
        raise FedrecError(f"--out {out} is a file: choose a folder.")
    if not out.exists() or not any(out.iterdir()):
        return
    names = {p.name for p in out.iterdir()}
    if not overwrite:
        raise FedrecError(
            f"{out} is not empty: choose another --out, or pass --overwrite to replace it."
        )
    names = {n.removesuffix(".tmp") for n in names}  # an atomic write cut short
    if (out / COLD).is_dir():  # a routed bundle's cold-start model: only a bundle's files
        names |= {f"{COLD}/{p.name.removesuffix('.tmp')}" for p in (out / COLD).iterdir()}
    elif COLD in names:
        names = (names - {COLD}) | {f"{COLD} (a file)"}
    allowed = BUNDLE_FILES | {f"{COLD}/{name}" for name in BUNDLE_FILES - {COLD}}
    if not names <= allowed:
        other = sorted(names - allowed)[:3]
        raise FedrecError(
            f"{out} holds files that are not a serving bundle's ({other}): --overwrite "
            "replaces only a bundle. Choose another --out, or empty that folder yourself."
        )


def kept_added(path: Path) -> pd.DataFrame | None:
    """The items added while serving the bundle at ``path`` (both models' where it has a
    cold-start model), without their vectors; None where there are none."""
    tables = []
    for where in (p / ADDED for p in (path, path / COLD) if (p / ADDED).is_file()):
        try:
            tables.append(pd.read_parquet(where))
        except Exception as err:  # pyarrow's errors share no base class
            raise FedrecError(
                f"{where} (items added while serving) cannot be read ({err}): --overwrite would "
                "lose them. Move it aside to replace the bundle without them."
            ) from err
    if not tables:
        return None
    items = pd.concat(tables, ignore_index=True).drop(columns="vector")
    return items.drop_duplicates("item_id", keep="first").reset_index(drop=True)


def _check_outside(run: Path, out: Path) -> None:
    where = out.resolve()
    if where == run.resolve() or where in run.resolve().parents:
        raise FedrecError(
            f"--out {out} is the run directory {run} or holds it: choose a folder outside "
            "the run (e.g. RUN_DIR/serving, or a new folder)."
        )


def _route_cold(bundle: Path, cold: RunDir, max_clicks: int) -> None:
    """Add ``cold``'s bundle to ``bundle`` as the model of requests knowing at most
    ``max_clicks`` items, and state the two models' guarantees composed in the card."""
    from fedrec.serving.model_card import model_card_markdown, routed_card

    target = bundle / COLD
    target.mkdir()
    _write_bundle(cold, target)
    fields = ["item_id", "title", "attributes", "scenario"]
    main, other = (pd.read_parquet(p / CATALOG)[fields].astype(str) for p in (bundle, target))
    if not main.equals(other):
        differ = [f for f in fields if len(main) != len(other) or not main[f].equals(other[f])]
        raise FedrecError(
            f"the cold-start run {cold.path} ranks another catalog than the main run "
            f"({len(other)} items against {len(main)}; {', '.join(differ)} differ): both "
            "models must rank the same items. Train the cold-start run on the same dataset "
            "and data settings (scenario-field included) as the main run."
        )
    manifest = read_manifest(bundle)
    # Where the cold-start run was, so a run's own serving/ bundle can tell it is stale.
    route = {"max_clicks": int(max_clicks), "run": str(cold.path.resolve())}
    manifest.update(version=2, cold_route=route)
    card = routed_card(_read_json(bundle / CARD), _read_json(target / CARD), max_clicks)
    atomic_write_json(bundle / CARD, card)
    atomic_write_text(bundle / CARD_MD, model_card_markdown(card))
    atomic_write_json(bundle / MANIFEST, manifest)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_bundle(run: RunDir, out: Path) -> None:
    cfg = run.read_config(lenient=True)
    ds = load_dataset(cfg.data, seed=cfg.train.seed)
    split = split_loaded(ds, cfg.data, seed=cfg.train.seed)  # the split the run trained on
    cm = build_catalog_model(split, cfg.model, cfg.data, pick_device("cpu", cfg.train.threads))
    load_trainable_state(cm.model, run.load_state())
    cm.mark_stale()
    cm.ensure_fresh()
    with torch.no_grad():
        index = torch.arange(cm.n_items)
        vectors = cm.model.item_vectors(cm.item_text, index).float()
        offsets = cm.model.item_offsets(index).float()
    items = ds.items.reset_index(drop=True)[["item_id", "title", "attributes", "scenario"]]
    items = items.assign(warm=~split.cold_items, added=False)
    atomic_write_bytes(out / CATALOG, parquet_bytes(items))
    atomic_write_bytes(out / VECTORS, save({"vectors": vectors, "offsets": offsets}))
    shutil.copyfile(run.path / STATE, out / STATE)
    shutil.copyfile(run.path / CONFIG, out / CONFIG)
    summary = run.read_summary() if (run.path / "summary.json").is_file() else {}
    card = model_card(cfg, summary, run.path)
    atomic_write_json(out / CARD, card)
    atomic_write_text(out / CARD_MD, model_card_markdown(card))
    atomic_write_json(
        out / MANIFEST,
        {
            "format": FORMAT,
            "version": 1,
            "items": int(cm.n_items),
            "has_profiles": bool(any(split.profiles)),
            "dimension": int(vectors.shape[1]),
            "run_kind": run.read_kind(),
        },
    )


def read_manifest(path: Path) -> dict[str, Any]:
    manifest = _read_json(path / MANIFEST)
    if manifest.get("format") != FORMAT or int(manifest.get("version", 0)) > VERSION:
        raise FedrecError(
            f"{path} holds a serving bundle this fedrec cannot read (format "
            f"{manifest.get('format')!r}, version {manifest.get('version')}): export it again "
            "with this version ('fedrec export RUN_DIR --out DIR')."
        )
    return manifest


def cold_bundle(path: Path) -> Path:
    """The cold-start model's bundle inside the routed bundle ``path``: a plain bundle."""
    where = path / COLD
    if not is_bundle(where) or cold_route(read_manifest(where)) is not None:
        raise FedrecError(
            f"{where} is not a plain serving bundle, as the cold route of {path} needs: "
            "export the bundle again ('fedrec export RUN_DIR --out DIR --cold-run COLD_RUN')."
        )
    return where


def read_config(path: Path) -> Config:
    """The bundle's configuration (keys this version does not know are left out)."""
    table = load_toml(path / CONFIG)
    return build_config(table, ignore=[k for k in table if k not in known_keys()])


def read_state(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path / STATE))


def read_catalog(path: Path) -> Catalog:
    """The exported catalog with its vectors, and the items added since, in that order."""
    items = pd.read_parquet(path / CATALOG)
    tensors = load_file(str(path / VECTORS))
    vectors, offsets = tensors["vectors"].numpy(), tensors["offsets"].numpy()
    added = path / ADDED
    if added.is_file():
        extra = pd.read_parquet(added)
        extra_vectors = np.stack(extra.pop("vector").to_numpy()).astype(np.float32)
        items = pd.concat([items, extra], ignore_index=True)
        vectors = np.concatenate([vectors, extra_vectors])
        offsets = np.concatenate([offsets, np.zeros(len(extra), dtype=np.float32)])
    return Catalog(items.reset_index(drop=True), vectors.astype(np.float32), offsets)


def write_added(path: Path, items: pd.DataFrame, vectors: np.ndarray) -> None:
    """Replace ``added_items.parquet`` with every added item (one atomic write, so a crash
    keeps either the old set or the new one, never a part)."""
    table = items.assign(vector=list(np.asarray(vectors, dtype=np.float32)))
    atomic_write_bytes(path / ADDED, parquet_bytes(table))


def bundle_path(path: str | Path) -> Path:
    """The serving bundle at ``path``: the path itself, or a run directory's export
    (``RUN_DIR/serving``, written on first use)."""
    path = Path(path)
    if is_bundle(path):
        return path
    run = RunDir(path)
    if not (run.path / CONFIG).is_file():
        raise FedrecError(
            f"{path} is neither a serving bundle nor a run directory: pass the --out of "
            "'fedrec export', 'fedrec train' or 'fedrec simulate'."
        )
    return _exported(run)


def _exported(run: RunDir) -> Path:
    """A run's serving bundle, exported again when the run's state is newer."""
    target = run.path / "serving"
    state = run.path / STATE
    if not state.is_file():
        raise FedrecError(f"{run.path} has no {STATE}: the run has not saved a model yet.")
    manifest = target / MANIFEST
    stale = not manifest.is_file() or manifest.stat().st_mtime < state.stat().st_mtime
    if (target / COLD).is_dir():
        cold = Path(str(read_manifest(target).get("cold_route", {}).get("run", "")))
        cold_state = cold / STATE if cold.name else None
        if cold_state is not None and cold_state.is_file():
            stale |= manifest.stat().st_mtime < cold_state.stat().st_mtime
        if stale:
            raise FedrecError(
                f"{target} serves {run.path} with a cold-start model ({cold or 'its run'}) and "
                f"a newer model was trained since: export both again ('fedrec export {run.path} "
                f"--out {target} --overwrite --cold-run {cold or 'COLD_RUN'}'; items added "
                "while serving are kept), or serve the bundle folder itself."
            )
    if stale:  # items added while serving survive the re-export
        export_bundle(run.path, target, overwrite=True)
    return target

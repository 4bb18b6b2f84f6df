"""Input files in, output directory out, per the Arrow data contract.

* :func:`read_table` reads one input file and casts the contract's columns to
  their contract types; anything that stops a run (missing or corrupt file,
  missing required column, uncastable column) is an :class:`InputError` with
  a one-line message naming the file and the column.
* :func:`validate` turns both input tables into the normalised tables the
  pipeline works on and moves every row that cannot be planned to
  ``rejects`` with its reason. It is vectorised (Arrow compute and NumPy) so a
  national day of 10-20 million parcels validates in seconds.
* :func:`write_outputs` writes the output directory atomically, with
  ``manifest.json`` last.

Row checks, first match wins (so each rejected row has exactly one reason):
hubs in the order of ``schemas.HUB_CHECKS``, parcels in the order of
``schemas.PARCEL_CHECKS``. Duplicates are judged on the raw ids: the first
row with an id keeps it, every later row with that id is rejected, whatever
happens to the first. A null in an optional column takes the column's
default; a null in a required value column (coordinates, vehicles,
capacity_kg) fails that column's check. A parcel's weight is checked against
the largest capacity_kg of the valid hubs that have a vehicle; with no such
hub that check is skipped (nothing can be planned, the parcels are reported
unassigned downstream).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from planner import schemas as S
from planner.errors import HexrouteError, InputError

IPC_SUFFIXES = (".arrow", ".feather", ".ipc")
PARQUET_SUFFIXES = (".parquet",)
#: rows per record batch in written files, so bytes do not depend on how a table was chunked
WRITE_BATCH_ROWS = 1 << 20
_READ_ERRORS = (pa.ArrowException, OSError, ValueError, EOFError)


@dataclass(frozen=True)
class Inputs:
    """Validated inputs: normalised ``parcels`` and ``hubs`` (schemas.PARCELS_SCHEMA,
    schemas.HUBS_SCHEMA) and the rows that were set aside (schemas.REJECTS_SCHEMA)."""

    parcels: pa.Table
    hubs: pa.Table
    rejects: pa.Table


# --------------------------------------------------------------------------- reading

def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_ipc(path: Path) -> pa.Table:
    """An Arrow IPC file (Feather v2) or, failing that, an IPC stream; memory-mapped."""
    with pa.memory_map(str(path)) as source:
        try:
            return pa.ipc.open_file(source).read_all()
        except pa.ArrowInvalid:
            source.seek(0)
            return pa.ipc.open_stream(source).read_all()


def read_table(path: str | os.PathLike[str], name: str) -> pa.Table:
    """Read input file ``name`` (``"parcels"`` or ``"hubs"``) from ``path``:
    Arrow IPC file or stream (``.arrow``, ``.feather``, ``.ipc``) or Parquet
    (``.parquet``), by extension. Contract columns come back cast to their
    contract types; other columns are kept as they are.

    Raises InputError (one line, naming the file and the column) when the
    file is missing, unreadable, of an unknown kind, lacks a required column
    or has a column that cannot be read as its contract type.
    """
    if name not in S.INPUT_COLUMNS:
        raise ValueError(f"unknown input {name!r}; expected one of {sorted(S.INPUT_COLUMNS)}")
    p = Path(path)
    label = f"{name} file {p}"
    suffix = p.suffix.lower()
    if suffix not in IPC_SUFFIXES + PARQUET_SUFFIXES:
        known = ", ".join(IPC_SUFFIXES + PARQUET_SUFFIXES)
        raise InputError(f"{label}: unknown file type '{suffix}' (expected one of {known})")
    if not p.exists():
        raise InputError(f"{label}: no such file")
    if not p.is_file():
        raise InputError(f"{label}: not a regular file")
    kind = "Parquet" if suffix in PARQUET_SUFFIXES else "Arrow IPC"
    try:
        table = pq.read_table(p) if suffix in PARQUET_SUFFIXES else _read_ipc(p)
    except _READ_ERRORS as exc:
        raise InputError(f"{label}: cannot be read as {kind}: {_first_line(exc)}") from exc
    return conform(table, name, label)


def _contract_type(actual: pa.DataType, spec: S.ColumnSpec) -> pa.DataType:
    if spec.dictionary_ok and pa.types.is_dictionary(actual):
        return pa.dictionary(actual.index_type, spec.type)
    return spec.type


def conform(table: pa.Table, name: str, label: str) -> pa.Table:
    """Cast the contract columns of input ``name`` to their contract types
    (dictionary<string> kept where allowed); ``label`` starts any error message.

    Raises InputError for a missing required column, a column that appears
    more than once, or one that cannot be cast.
    """
    for spec in S.INPUT_COLUMNS[name]:
        where = table.schema.get_all_field_indices(spec.name)
        if len(where) > 1:
            raise InputError(f"{label}: column '{spec.name}' appears {len(where)} times")
        if not where:
            if spec.required:
                raise InputError(f"{label}: missing required column '{spec.name}'")
            continue
        column = table.column(where[0])
        target = _contract_type(column.type, spec)
        if column.type == target:
            continue
        try:
            column = column.cast(target)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InputError(f"{label}: column '{spec.name}' of type {column.type} cannot be read as "
                             f"{target}: {_first_line(exc)}") from exc
        table = table.set_column(where[0], spec.name, column)
    return table


# --------------------------------------------------------------------------- validation

def _spec(name: str, column: str) -> S.ColumnSpec:
    return next(s for s in S.INPUT_COLUMNS[name] if s.name == column)


def _np(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(values.to_numpy(zero_copy_only=False))


def _nulls(table: pa.Table, column: str) -> np.ndarray:
    """True where the column is null (all False when the column is absent)."""
    if column not in table.column_names:
        return np.zeros(table.num_rows, dtype=bool)
    return _np(table.column(column).is_null())


def _values(table: pa.Table, name: str, column: str, fill: Any = None) -> np.ndarray:
    """A numeric column as NumPy in its contract dtype; nulls and an absent
    column become ``fill`` (default: the contract default)."""
    spec = _spec(name, column)
    fill = spec.default if fill is None else fill
    dtype = spec.type.to_pandas_dtype()
    if column not in table.column_names:
        return np.full(table.num_rows, fill, dtype=dtype)
    return _np(table.column(column).fill_null(pa.scalar(fill, spec.type))).astype(dtype, copy=False)


def _strings(table: pa.Table, column: str, default: str | None = None) -> pa.ChunkedArray:
    """A string column, nulls replaced by ``default`` when given; all-null when absent."""
    if column not in table.column_names:
        fill = pa.nulls(table.num_rows, pa.string()) if default is None else pa.repeat(default, table.num_rows)
        return pa.chunked_array([fill], type=pa.string())
    values = table.column(column)
    return values if default is None else values.fill_null(default)


def _first_failure(n: int, checks: tuple[str, ...], failures: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per row, the 1-based position in ``checks`` of the first failed check
    (0: passed all); ``failures`` maps each check's reason to its row mask."""
    if set(failures) != set(checks):
        raise ValueError(f"checks and failure masks differ: {sorted(set(checks) ^ set(failures))}")
    codes = np.zeros(n, dtype=np.int8)
    for number, reason in enumerate(checks, start=1):
        codes[(codes == 0) & failures[reason]] = number
    return codes


def _later_duplicates(ids: pa.ChunkedArray) -> np.ndarray:
    """True for every non-null id already seen in an earlier row.

    Arrow's hash encoding numbers distinct values in order of first
    appearance, so a row is a first occurrence exactly when its code exceeds
    every earlier code: one linear pass instead of a sort.
    """
    if len(ids) == 0:
        return np.zeros(0, dtype=bool)
    encoded = pc.dictionary_encode(ids)
    codes = np.concatenate([_np(c.indices.fill_null(-1)).astype(np.int64) for c in encoded.chunks])
    seen_before = np.concatenate(([-1], np.maximum.accumulate(codes)[:-1]))
    return (codes >= 0) & (codes <= seen_before)


def _coordinate_failures(table: pa.Table, name: str) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The coordinate checks' failure masks by reason, and the lat, lon values."""
    lat = _values(table, name, "lat", fill=np.nan)
    lon = _values(table, name, "lon", fill=np.nan)
    missing = _nulls(table, "lat") | _nulls(table, "lon")
    with np.errstate(invalid="ignore"):
        nonfinite = ~(np.isfinite(lat) & np.isfinite(lon))
        out_of_range = (np.abs(lat) > 90.0) | (np.abs(lon) > 180.0)
    return ({S.REASON_MISSING_COORDS: missing, S.REASON_NONFINITE_COORDS: nonfinite,
             S.REASON_COORDS_OUT_OF_RANGE: out_of_range}, lat, lon)


def _tier_codes_of(values: pa.Array) -> np.ndarray:
    """Tier codes of plain string values: null -> standard, unknown -> -1."""
    codes = _np(pc.index_in(values, value_set=pa.array(S.TIERS, pa.string())).fill_null(-1)).astype(np.int8)
    codes[_np(values.is_null())] = S.DEFAULT_TIER_CODE
    return codes


def _tier_codes(table: pa.Table) -> np.ndarray:
    """int8 tier code per parcel (-1: unknown tier); dictionary columns are
    decoded through their dictionaries, not row by row."""
    if "tier" not in table.column_names:
        return np.full(table.num_rows, S.DEFAULT_TIER_CODE, dtype=np.int8)
    parts = []
    for chunk in table.column("tier").chunks:
        if pa.types.is_dictionary(chunk.type):
            lookup = np.append(_tier_codes_of(chunk.dictionary), np.int8(S.DEFAULT_TIER_CODE))
            parts.append(lookup[_np(chunk.indices.fill_null(len(chunk.dictionary)))])
        else:
            parts.append(_tier_codes_of(chunk))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int8)


def _rejects(file: str, codes: np.ndarray, checks: tuple[str, ...], ids: pa.ChunkedArray,
             tiers: pa.ChunkedArray | None = None) -> pa.Table:
    """Rejects rows for one input: every row with a non-zero check code. The
    unknown-tier reason is formatted with the row's tier value."""
    rows = np.flatnonzero(codes)
    reasons = pa.array(checks, pa.string()).take(pa.array(codes[rows].astype(np.int32) - 1))
    if tiers is not None and len(rows):
        is_tier = codes[rows] == checks.index(S.REASON_UNKNOWN_TIER) + 1
        if is_tier.any():
            values = tiers.take(pa.array(rows[is_tier])).cast(pa.string())
            prefix, suffix = S.REASON_UNKNOWN_TIER.split("{tier}")
            text = pc.binary_join_element_wise(prefix, values, suffix, "")
            reasons = pc.replace_with_mask(reasons, pa.array(is_tier), text.combine_chunks())
    return S.table_from_columns(S.REJECTS_SCHEMA, {
        "row": rows.astype(np.int64), "file": pa.repeat(file, len(rows)),
        "id": ids.take(pa.array(rows)), "reason": reasons,
    })


def _validate_hubs(hubs: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Normalised valid hubs and the hub rejects."""
    n = hubs.num_rows
    ids = hubs.column("hub_id")
    coord_failures, lat, lon = _coordinate_failures(hubs, "hubs")
    vehicles = _values(hubs, "hubs", "vehicles", fill=0)
    capacity_kg = _values(hubs, "hubs", "capacity_kg", fill=np.nan)
    capacity_parcels = _values(hubs, "hubs", "capacity_parcels")
    shift_s = _values(hubs, "hubs", "shift_s")
    daily = _values(hubs, "hubs", "daily_capacity")
    with np.errstate(invalid="ignore"):
        bad_capacity_kg = ~(capacity_kg > 0)
    codes = _first_failure(n, S.HUB_CHECKS, {
        S.REASON_MISSING_HUB_ID: _nulls(hubs, "hub_id"),
        S.REASON_DUPLICATE_HUB_ID: _later_duplicates(ids),
        **coord_failures,
        S.REASON_BAD_VEHICLES: _nulls(hubs, "vehicles") | (vehicles < 0),
        S.REASON_BAD_CAPACITY_KG: bad_capacity_kg,
        S.REASON_BAD_CAPACITY_PARCELS: capacity_parcels <= 0,
        S.REASON_BAD_SHIFT: shift_s <= 0,
        S.REASON_BAD_DAILY_CAPACITY: daily < 0,
    })
    table = pa.Table.from_arrays([
        np.arange(n, dtype=np.int64), ids, lat, lon, _strings(hubs, "operator", S.DEFAULT_OPERATOR),
        vehicles, capacity_kg, capacity_parcels, shift_s, daily,
    ], schema=S.HUBS_SCHEMA)
    return table.filter(pa.array(codes == 0)), _rejects("hubs", codes, S.HUB_CHECKS, ids)


def _largest_vehicle_kg(hubs: pa.Table) -> float:
    """Largest capacity_kg among valid hubs with a vehicle; inf when there is none."""
    with_vehicles = _np(hubs.column("vehicles")) > 0
    capacities = _np(hubs.column("capacity_kg"))[with_vehicles]
    return float(capacities.max()) if capacities.size else np.inf


def _validate_parcels(parcels: pa.Table, hubs: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Normalised valid parcels (hub_id resolved against the valid ``hubs``) and the parcel rejects."""
    n = parcels.num_rows
    ids = parcels.column("parcel_id")
    coord_failures, lat, lon = _coordinate_failures(parcels, "parcels")
    weight = _values(parcels, "parcels", "weight_kg")
    fee = _values(parcels, "parcels", "fee_usd")
    tier_code = _tier_codes(parcels)
    forced = _strings(parcels, "hub_id")
    hub_index = _np(pc.index_in(forced, value_set=hubs.column("hub_id").combine_chunks())
                    .fill_null(-1)).astype(np.int32)
    with np.errstate(invalid="ignore"):
        bad_weight = ~(weight > 0)
        over_capacity = weight > np.float32(_largest_vehicle_kg(hubs))
        bad_fee = ~(np.isfinite(fee) & (fee >= 0))
    codes = _first_failure(n, S.PARCEL_CHECKS, {
        S.REASON_MISSING_PARCEL_ID: _nulls(parcels, "parcel_id"),
        S.REASON_DUPLICATE_PARCEL_ID: _later_duplicates(ids),
        **coord_failures,
        S.REASON_WEIGHT_NOT_POSITIVE: bad_weight,
        S.REASON_WEIGHT_OVER_CAPACITY: over_capacity,
        S.REASON_UNKNOWN_TIER: tier_code < 0,
        S.REASON_BAD_FEE: bad_fee,
        S.REASON_UNKNOWN_HUB: (hub_index < 0) & ~_np(forced.is_null()),
    })
    table = pa.Table.from_arrays([
        np.arange(n, dtype=np.int64), ids, lat, lon, weight, tier_code,
        _strings(parcels, "address_id"), hub_index, _strings(parcels, "shipper"), fee,
    ], schema=S.PARCELS_SCHEMA)
    tiers = parcels.column("tier") if "tier" in parcels.column_names else None
    return table.filter(pa.array(codes == 0)), _rejects("parcels", codes, S.PARCEL_CHECKS, ids, tiers)


def validate(parcels: pa.Table, hubs: pa.Table) -> Inputs:
    """Check every row of both inputs against the contract's "Bad input"
    rules; return the normalised valid tables and the rejects (hubs first,
    then parcels, each by row). Every input row ends up in exactly one of
    them. Raises InputError only for table-level problems (a missing required
    column, an uncastable column)."""
    hubs = conform(hubs, "hubs", "hubs table")
    parcels = conform(parcels, "parcels", "parcels table")
    valid_hubs, hub_rejects = _validate_hubs(hubs)
    valid_parcels, parcel_rejects = _validate_parcels(parcels, valid_hubs)
    rejects = pa.concat_tables([hub_rejects, parcel_rejects]).combine_chunks()
    return Inputs(parcels=valid_parcels, hubs=valid_hubs, rejects=rejects)


def load_inputs(parcels_path: str | os.PathLike[str], hubs_path: str | os.PathLike[str]) -> Inputs:
    """Read both input files (see :func:`read_table`) and :func:`validate` them."""
    return validate(read_table(parcels_path, "parcels"), read_table(hubs_path, "hubs"))


# --------------------------------------------------------------------------- writing

def _check_name(name: str) -> None:
    if not name or name.startswith(".") or "/" in name or "\\" in name or name == "manifest":
        raise ValueError(f"invalid output name {name!r}")


def _fsync(path: Path) -> None:
    """Flush a file, or a directory's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Best effort: some file systems cannot fsync a directory."""
    with contextlib.suppress(OSError):
        _fsync(path)


def _write_table(path: Path, name: str, table: pa.Table) -> None:
    """One table as an Arrow IPC file; contract tables are cast to their
    schema (metadata included) and re-batched so the bytes depend only on
    the contents."""
    schema = S.OUTPUT_SCHEMAS.get(name)
    if schema is not None:
        if table.schema.names != schema.names:
            raise ValueError(f"table {name!r} has columns {table.schema.names}, expected {schema.names}")
        table = table.cast(schema)
    table = table.combine_chunks()
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table, max_chunksize=WRITE_BATCH_ROWS)


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    text = json.dumps(document, sort_keys=True, indent=2, allow_nan=False, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")


def _describe(path: Path, rows: int | None) -> dict[str, Any]:
    with path.open("rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    return {"name": path.name, "rows": rows, "bytes": path.stat().st_size, "sha256": digest}


def _swap_into_place(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing target is moved aside first
    and deleted only after the new one is in place (restored if that fails)."""
    if not target.exists():
        os.rename(new, target)
        return
    aside = target.with_name(f".{target.name}.old-{secrets.token_hex(4)}")
    os.rename(target, aside)
    try:
        os.rename(new, target)
    except BaseException:
        os.rename(aside, target)
        raise
    shutil.rmtree(aside, ignore_errors=True)


def write_outputs(target_dir: str | os.PathLike[str], tables: Mapping[str, pa.Table],
                  documents: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Write ``<name>.arrow`` per table (Arrow IPC file) and ``<name>.json``
    per document (sorted keys, indent 2) into a hidden temporary directory
    beside ``target_dir``, then ``manifest.json`` last, fsync, and rename the
    directory into place. Either the complete new directory is at the target
    afterwards or (on any error) nothing changed and no temporary directory
    is left. Same inputs give byte-identical files. Returns the manifest.

    Raises InputError when the target exists and is not a directory,
    HexrouteError when the file system refuses a write, ValueError for
    tables or documents that break the contract.
    """
    target = Path(target_dir)
    for name in (*tables, *documents):
        _check_name(name)
    if target.exists() and not target.is_dir():
        raise InputError(f"output {target}: exists and is not a directory")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as exc:
        raise HexrouteError(f"output {target}: cannot create a directory: {_first_line(exc)}") from exc
    try:
        files = []
        for name in sorted(tables):
            path = tmp / f"{name}.arrow"
            _write_table(path, name, tables[name])
            files.append(_describe(path, tables[name].num_rows))
        for name in sorted(documents):
            path = tmp / f"{name}.json"
            _write_json(path, documents[name])
            files.append(_describe(path, None))
        manifest = {"schema_version": S.SCHEMA_VERSION,
                    "files": sorted(files, key=lambda f: f["name"])}
        _write_json(tmp / "manifest.json", manifest)
        for path in tmp.iterdir():
            _fsync(path)
        _fsync_dir(tmp)
        _swap_into_place(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise HexrouteError(f"output {target}: cannot write: {_first_line(exc)}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
    return manifest

"""Reading an input file: Arrow IPC or Parquet in, the contract's columns cast to their contract types.

Anything that stops a run (missing or corrupt file, missing required column,
uncastable column) is an :class:`~planner.errors.InputError` with a one-line
message naming the file and the column.
"""
from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from planner.contract import schemas as S
from planner.errors import InputError, first_line

IPC_SUFFIXES = (".arrow", ".feather", ".ipc")
PARQUET_SUFFIXES = (".parquet",)
#: what a damaged file raises while read and validated (UnicodeDecodeError, a ValueError, for a column name;
#: MemoryError for a length field that claims more than there is)
_READ_ERRORS = (pa.ArrowException, OSError, ValueError, EOFError, MemoryError)


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
        # Every buffer checked (offsets within their data, dictionary indices within their dictionary, UTF-8)
        # before anything computes on it: a damaged file's out-of-range offsets would fault in pyarrow.compute.
        table.validate(full=True)
    except _READ_ERRORS as exc:
        raise InputError(f"{label}: cannot be read as {kind}: {first_line(exc)}") from exc
    return conform(table, name, label)


def _numeric_source(actual: pa.DataType) -> bool:
    """Whether a column of type ``actual`` may be cast to a numeric contract type: numbers (or a
    dictionary of them) and all-null columns; never booleans or text, which a cast would turn into
    numbers silently (true -> 1.0, "40.7" -> 40.7)."""
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    return pa.types.is_integer(actual) or pa.types.is_floating(actual) or pa.types.is_decimal(actual) or \
        pa.types.is_null(actual)


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
        if (pa.types.is_integer(spec.type) or pa.types.is_floating(spec.type)) and not _numeric_source(column.type):
            raise InputError(f"{label}: column '{spec.name}' of type {column.type} cannot be read as {target}: "
                             "it must hold numbers")
        try:
            column = column.cast(target)
        except (pa.ArrowException, ValueError, TypeError) as exc:
            raise InputError(f"{label}: column '{spec.name}' of type {column.type} cannot be read as "
                             f"{target}: {first_line(exc)}") from exc
        table = table.set_column(where[0], spec.name, column)
    return table


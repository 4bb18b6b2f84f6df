"""Writing an output directory atomically: every file into a temporary directory beside the target,
``manifest.json`` last, listing every file (the report's included), then one swap into place (see
shared/CONTRACT.md, "Outputs"; the checks and the lock on the target are in planner.contract.target)."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from planner.contract import schemas as S
from planner.contract.target import MANIFEST_NAME, OutputTarget, open_target
from planner.contract.target import manifest as read_manifest
from planner.errors import HexrouteError, InputError, first_line

#: writes more files (the report) into the temporary directory of a plan before its manifest is written
ExtraFiles = Callable[[Path], None]

#: rows per record batch in written files, so bytes do not depend on how a table was chunked
WRITE_BATCH_ROWS = 1 << 20


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
    schema = S.PLAN_TABLE_SCHEMAS.get(name)
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


def _link_or_copy(source: Path, destination: Path) -> None:
    """A file of an earlier plan into a new directory: a hard link (files are never changed in place), else a copy."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _finish(target: OutputTarget, tmp: Path, rows: Mapping[str, int | None]) -> dict[str, Any]:
    """Describe every file of ``tmp`` in its manifest (written last), flush, and swap ``tmp`` into place."""
    files = []
    for entry in sorted(os.scandir(tmp), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False) or entry.name == MANIFEST_NAME:
            raise ValueError(f"output file {entry.name!r} is not a plain file the plan wrote")
        files.append(_describe(tmp / entry.name, rows.get(entry.name)))
    manifest = {"schema_version": S.SCHEMA_VERSION, "files": files}
    _write_json(tmp / MANIFEST_NAME, manifest)
    for path in tmp.iterdir():
        _fsync(path)
    _fsync_dir(tmp)
    target.replace_with(tmp)
    _fsync_dir(target.parent)
    return manifest


@contextlib.contextmanager
def staging(target: OutputTarget) -> Iterator[Path]:
    """A new temporary directory beside the target, removed unless it was swapped into place."""
    try:
        tmp = target.new_directory()
    except OSError as exc:
        raise HexrouteError(f"{target.where}: cannot create a directory: {first_line(exc)}") from exc
    try:
        yield tmp
    except OSError as exc:
        raise HexrouteError(f"{target.where}: cannot write: {first_line(exc)}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_into(target: OutputTarget, tables: Mapping[str, pa.Table], documents: Mapping[str, Mapping[str, Any]],
               extra: ExtraFiles | None = None) -> dict[str, Any]:
    """:func:`write_outputs` on a target that is already checked and locked (planner.contract.target)."""
    for name in (*tables, *documents):
        _check_name(name)
    with staging(target) as tmp:
        rows: dict[str, int | None] = {}
        for name in sorted(tables):
            _write_table(tmp / f"{name}.arrow", name, tables[name])
            rows[f"{name}.arrow"] = tables[name].num_rows
        for name in sorted(documents):
            _write_json(tmp / f"{name}.json", documents[name])
        if extra is not None:
            extra(tmp)
        return _finish(target, tmp, rows)


def write_outputs(target_dir: str | os.PathLike[str], tables: Mapping[str, pa.Table],
                  documents: Mapping[str, Mapping[str, Any]], extra: ExtraFiles | None = None) -> dict[str, Any]:
    """Write ``<name>.arrow`` per table (Arrow IPC file) and ``<name>.json``
    per document (sorted keys, indent 2) into a hidden temporary directory
    beside ``target_dir``; then ``extra(directory)``, when given, writes more
    files there (the report); then ``manifest.json``, listing every file, is
    written last, everything is flushed and the directory takes the target's
    place. Either the complete new directory is at the target afterwards or
    (on any error) nothing changed and no temporary directory is left. Same
    inputs give byte-identical files. Returns the manifest.

    The target is checked and locked first (:func:`planner.contract.target.open_target`):
    InputError when it exists and is neither empty nor an earlier plan, is a file, holds the current
    directory, or another run writes it; HexrouteError when the file system refuses a write, ValueError for
    tables or documents that break the contract.
    """
    for name in (*tables, *documents):
        _check_name(name)
    with open_target(target_dir) as target:
        return write_into(target, tables, documents, extra)


def rewrite_outputs(target_dir: str | os.PathLike[str], extra: ExtraFiles,
                    drop: Callable[[str], bool] = lambda name: False) -> dict[str, Any]:
    """Rewrite an earlier plan atomically with more files: its listed files (less those ``drop`` names) are
    linked into a new directory, ``extra(directory)`` adds its files there, a new manifest is written last and
    the directory replaces the plan, as :func:`write_outputs` does. InputError when ``target_dir`` is not a plan."""
    path = Path(target_dir)
    if not path.is_dir():
        raise InputError(f"{path}: no such output directory")
    with open_target(path) as target:
        old = read_manifest(target.path)
        if old is None:
            raise InputError(f"{path}: not a hexroute plan (no manifest.json of ours)")
        with staging(target) as tmp:
            rows: dict[str, int | None] = {}
            for entry in old["files"]:
                name = entry["name"]
                _check_name(Path(name).stem)
                if drop(name):
                    continue
                _link_or_copy(target.path / name, tmp / name)
                rows[name] = entry.get("rows")
            extra(tmp)
            return _finish(target, tmp, rows)

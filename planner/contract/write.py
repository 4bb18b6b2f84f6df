"""Writing an output directory atomically: every file into a temporary directory beside the target,
``manifest.json`` last, then one rename into place (see shared/CONTRACT.md, "Outputs")."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from planner.contract import schemas as S
from planner.errors import HexrouteError, InputError, first_line

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
        raise HexrouteError(f"output {target}: cannot create a directory: {first_line(exc)}") from exc
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
        raise HexrouteError(f"output {target}: cannot write: {first_line(exc)}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _fsync_dir(target.parent)
    return manifest

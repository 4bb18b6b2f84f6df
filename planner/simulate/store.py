"""Writing a simulation or comparison directory atomically, as a plan is written (shared/CONTRACT.md,
"Outputs" and "Several days").

The target is checked and locked as a plan's is (planner.contract.target);
everything is written into a hidden temporary directory beside it: each day's
plan directory through :func:`planner.contract.write_outputs`, then the
simulation's own files; ``manifest.json`` comes last and lists every file of
the tree (a sub-directory's files as ``day-01/assignments.arrow``, taken from
its own manifest), then the directory takes the target's place. A run that
stops midway, by an error or an interrupt, removes its temporary directory:
the target is either the complete new directory or what it was before.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from planner.contract import schemas as S
from planner.contract.target import MANIFEST_NAME, open_target
from planner.contract.target import manifest as read_manifest
from planner.contract.write import _describe, _fsync, _fsync_dir, _write_json, _write_table, staging


def write_table(directory: Path, name: str, table: pa.Table) -> None:
    """``<name>.arrow`` in ``directory`` (Arrow IPC file, bytes that depend only on the contents)."""
    _write_table(directory / f"{name}.arrow", name, table)


def write_json(directory: Path, name: str, document: Mapping[str, Any]) -> None:
    """``<name>.json`` in ``directory`` (sorted keys, indent 2, as a plan's summary)."""
    _write_json(directory / f"{name}.json", document)


def _entries(directory: Path, prefix: str, rows: Mapping[str, int | None]) -> list[dict[str, Any]]:
    """Manifest entries of every file below ``directory``; a sub-directory must carry its own manifest."""
    files = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        path = directory / entry.name
        if entry.is_dir(follow_symlinks=False):
            sub = read_manifest(path)
            if sub is None:
                raise ValueError(f"output directory {prefix}{entry.name!r} has no manifest")
            files += [{**f, "name": f"{prefix}{entry.name}/{f['name']}"} for f in sub["files"]]
            files.append({**_describe(path / MANIFEST_NAME, None), "name": f"{prefix}{entry.name}/{MANIFEST_NAME}"})
        elif entry.is_file(follow_symlinks=False) and entry.name != MANIFEST_NAME:
            files.append({**_describe(path, rows.get(entry.name)), "name": f"{prefix}{entry.name}"})
        else:
            raise ValueError(f"output file {prefix}{entry.name!r} is not a plain file the run wrote")
    return files


def _flush(directory: Path) -> None:
    """fsync every file of the tree, directories after their files."""
    for root, _, names in os.walk(directory, topdown=False):
        for name in names:
            _fsync(Path(root) / name)
        _fsync_dir(Path(root))


@contextlib.contextmanager
def staged(out: str | os.PathLike[str], kind: str, inputs: Iterable[str | os.PathLike[str]] = (),
           rows: dict[str, int | None] | None = None) -> Iterator[Path]:
    """The temporary directory of output ``out``; when the block ends without an error, ``manifest.json``
    (with ``kind``: ``simulation`` or ``comparison``) is written last and the directory takes the target's place.

    ``rows`` (file name -> rows), filled in by the block, gives the manifest the row counts of its top-level
    tables. InputError, before anything is written, for a target a plan would refuse (planner.contract.target).
    """
    rows = {} if rows is None else rows
    with open_target(out, inputs) as target, staging(target) as tmp:
        yield tmp
        manifest = {"schema_version": S.SCHEMA_VERSION, "kind": kind, "files": _entries(tmp, "", rows)}
        _write_json(tmp / MANIFEST_NAME, manifest)
        _flush(tmp)
        target.replace_with(tmp)
        _fsync_dir(target.parent)

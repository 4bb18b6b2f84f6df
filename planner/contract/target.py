"""Where a plan goes: the output location checked before any work, locked for the run, replaced atomically.

A plan never destroys anything that is not an earlier plan, and never leaves
debris (shared/CONTRACT.md, "Outputs"):

- :func:`check_target` refuses, in one line naming the location, ``.`` and
  ``..``, the current directory or one above it, a location that holds an
  input file, an existing file, a mount point, and an existing directory that
  is neither empty nor an earlier plan (a ``manifest.json`` of ours listing its
  files). A symbolic link is followed: the plan goes where it points and the
  link stays.
- :func:`open_target` then takes ``.NAME.lock`` beside the target (``flock``,
  so a process that dies releases it): a second run on the same target fails
  at once. Holding the lock, it removes what a killed run left beside the
  target (``.NAME.tmp-*``, ``.NAME.old-*``): no live run owns them.
- :meth:`OutputTarget.new_directory` makes the hidden temporary directory
  (its mode follows the umask) and :meth:`OutputTarget.replace_with` swaps it
  in: one ``renameat2(RENAME_EXCHANGE)`` where the system has it, so the
  target is never absent, else two renames.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from planner.errors import InputError, first_line

MANIFEST_NAME = "manifest.json"
TMP_TAG = "tmp"
OLD_TAG = "old"


class TargetBusy(InputError):
    """Another run holds the output location's lock (exit status 2, before any work)."""


def manifest(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The directory's manifest.json when it is one of ours (schema_version, files with name and sha256)."""
    try:
        document = json.loads((Path(directory) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(document, dict) and isinstance(document.get("schema_version"), str)
            and isinstance(document.get("files"), list)):
        return None
    files = document["files"]
    if not all(isinstance(f, dict) and isinstance(f.get("name"), str) and "sha256" in f for f in files):
        return None
    return document


def _earlier_extra(name: str) -> bool:
    """Files a plan written before its report was in the manifest holds beside the listed ones."""
    return name == "report.html" or (name.startswith("report-") and name.endswith(".png")) or \
        (name.startswith(".report") and ".tmp-" in name)


def is_plan(directory: str | os.PathLike[str]) -> bool:
    """Whether ``directory`` holds a hexroute plan and nothing else: a manifest of ours and only the files it
    lists (and, for plans written before the report was listed, the report's files). A simulation's manifest
    lists the files of its day directories as ``day-01/assignments.arrow``: the directory is listed."""
    path = Path(directory)
    document = manifest(path)
    if document is None:
        return False
    listed = {f["name"].split("/")[0] for f in document["files"]} | {MANIFEST_NAME}
    try:
        with os.scandir(path) as entries:
            return all(entry.name in listed or _earlier_extra(entry.name) for entry in entries)
    except OSError:
        return False


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or below it."""
    return path == folder or folder in path.parents


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise InputError(f"output {path}: cannot be resolved: {first_line(exc)}") from None


class OutputTarget:
    """One output location: the path as given (for messages) and the directory it names."""

    def __init__(self, path: str | os.PathLike[str]):
        self.given = Path(path)
        #: the location as given, for messages ("output DIR: ...")
        self.where = f"output {os.fspath(path) or repr('')}"
        self.path = _resolved(self.given)
        self.parent = self.path.parent
        self.name = self.path.name
        self._lock_fd: int | None = None
        self._created: list[Path] = []

    # ------------------------------------------------------------------ names beside the target
    @property
    def lock_path(self) -> Path:
        """``.NAME.lock`` beside the target."""
        return self.parent / f".{self.name}.lock"

    def _hidden(self, tag: str) -> Path:
        return self.parent / f".{self.name}.{tag}-{secrets.token_hex(6)}"

    def debris(self) -> list[Path]:
        """What runs on this target left beside it (temporary and moved-aside directories)."""
        prefixes = (f".{self.name}.{TMP_TAG}-", f".{self.name}.{OLD_TAG}-")
        try:
            with os.scandir(self.parent) as entries:
                return sorted(self.parent / e.name for e in entries if e.name.startswith(prefixes))
        except OSError:
            return []

    # ------------------------------------------------------------------ checks
    def check(self, inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
        """Refuse a location that must not be replaced (see the module docstring); touches nothing."""
        where = self.where
        if self.given.name in ("", ".", ".."):
            raise InputError(f"{where}: name a directory of its own, not . or ..")
        for item in inputs:
            folder = _resolved(Path(item)).parent
            if _inside(folder, self.path):
                raise InputError(f"{where}: holds the input file {item}; choose another directory")
        with contextlib.suppress(OSError):
            here = Path.cwd().resolve()
            if _inside(here, self.path):
                raise InputError(f"{where}: is or contains the current directory")
        if os.path.lexists(self.path):
            if not self.path.is_dir():
                raise InputError(f"{where}: exists and is not a directory")
            if os.path.ismount(self.path):
                raise InputError(f"{where}: is a mount point; name a directory inside it")
            try:
                with os.scandir(self.path) as entries:
                    empty = next(entries, None) is None
            except OSError as exc:
                raise InputError(f"{where}: cannot be read: {first_line(exc)}") from None
            if not empty and not is_plan(self.path):
                raise InputError(f"{where}: exists and is not a hexroute plan (no manifest.json of ours listing "
                                 "its files); it is left as it is")
        ancestor = self.parent
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            raise InputError(f"{where}: {ancestor} is not a directory")

    # ------------------------------------------------------------------ lock
    def lock(self) -> None:
        """Create the missing parents and take the lock; TargetBusy when another run holds it, InputError when
        the parent cannot be written (both before any work)."""
        where = self.where
        missing = []
        folder = self.parent
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        try:
            for folder in reversed(missing):
                folder.mkdir()
                self._created.append(folder)
            while True:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    raise TargetBusy(f"{where}: another hexroute run is writing it (lock {self.lock_path} "
                                     "is held)") from None
                try:  # the holder before us may have removed the file after we opened it: lock the new one
                    same = os.stat(self.lock_path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if same:
                    break
                os.close(fd)
        except OSError as exc:
            self._remove_created()
            raise InputError(f"{where}: cannot write in {self.parent}: {first_line(exc)}") from None
        except BaseException:
            self._remove_created()
            raise
        self._lock_fd = fd

    def unlock(self, failed: bool = False) -> None:
        """Remove the lock file and release the lock; after a failed run, also the parents :meth:`lock` made."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                if os.stat(self.lock_path).st_ino == os.fstat(self._lock_fd).st_ino:
                    os.unlink(self.lock_path)
            os.close(self._lock_fd)
            self._lock_fd = None
        if failed:
            self._remove_created()

    def _remove_created(self) -> None:
        for folder in reversed(self._created):
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._created = []

    def clear_debris(self) -> None:
        """Remove what killed runs left beside the target (call holding the lock). A moved-aside earlier plan
        whose replacement never arrived is put back first."""
        leftovers = self.debris()
        if not os.path.lexists(self.path):
            aside = [p for p in leftovers if p.name.startswith(f".{self.name}.{OLD_TAG}-") and is_plan(p)]
            if aside:
                newest = max(aside, key=lambda p: p.stat().st_mtime)
                os.rename(newest, self.path)
                leftovers.remove(newest)
        for path in leftovers:
            _remove(path)

    # ------------------------------------------------------------------ writing
    def new_directory(self) -> Path:
        """A new, empty hidden directory beside the target (mode 0777 less the umask)."""
        while True:
            path = self._hidden(TMP_TAG)
            try:
                os.mkdir(path, 0o777)
                return path
            except FileExistsError:
                continue

    def replace_with(self, new: Path) -> None:
        """Put directory ``new`` at the target: exchanged with an earlier plan in one step where the system
        can, else the earlier plan is moved aside, the new one renamed in and the old one removed."""
        if not os.path.lexists(self.path):
            os.rename(new, self.path)
            return
        if _exchange(new, self.path):
            _remove(new)  # now the earlier plan
            return
        aside = self._hidden(OLD_TAG)
        os.rename(self.path, aside)
        try:
            os.rename(new, self.path)
        except BaseException:
            os.rename(aside, self.path)
            raise
        _remove(aside)


def _remove(path: Path) -> None:
    """Delete a directory tree or a file; what cannot be deleted now is left for the next run's clean-up."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Any = None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths atomically (Linux renameat2); False where the system or file system cannot."""
    global _renameat2
    if _renameat2 is None:
        try:
            _renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
        except (AttributeError, OSError):
            _renameat2 = False
    if _renameat2 is False:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    errno = ctypes.get_errno()
    if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not here; fall back to two renames
        return False
    raise OSError(errno, os.strerror(errno), str(b))


def check_target(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = ()) -> OutputTarget:
    """The checked output location (see :meth:`OutputTarget.check`); raises InputError, touches nothing."""
    target = OutputTarget(path)
    target.check(inputs)
    return target


@contextlib.contextmanager
def open_target(path: str | os.PathLike[str] | OutputTarget,
                inputs: Iterable[str | os.PathLike[str]] = ()) -> Iterator[OutputTarget]:
    """Check the output location, lock it and clear a killed run's debris; unlock when the block ends.

    An :class:`OutputTarget` that is already locked is passed through as it is (its owner unlocks it).
    """
    if isinstance(path, OutputTarget) and path._lock_fd is not None:
        yield path
        return
    target = path if isinstance(path, OutputTarget) else OutputTarget(path)
    target.check(inputs)
    target.lock()
    failed = True
    try:
        target.check(inputs)  # again, holding the lock: a run that finished meanwhile may have changed it
        target.clear_debris()
        yield target
        failed = False
    finally:
        target.unlock(failed=failed)

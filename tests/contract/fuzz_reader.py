"""Reads damaged input files, each in a forked child, and says how each read ended (one JSON line per file).

``python -m tests.contract.fuzz_reader NAME OTHER_FILE FILE...``: NAME is ``parcels`` or ``hubs`` (what the
damaged FILEs hold), OTHER_FILE a valid file of the other input. Each child reads its file as the planner does
(planner.contract.read_table, then validate against the other input) and exits 0 (read and validated), 2 (an
InputError of one line naming the file) or 1 (anything else, its traceback kept); a signal shows as such. The
parent imports only the contract (no kernel has run, nothing has started a thread), so forking is safe and
each child costs milliseconds instead of a fresh interpreter.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback


def _child(name: str, other: str, path: str, err_path: str) -> int:
    from planner.contract import read_table, validate
    from planner.errors import InputError

    try:
        damaged = read_table(path, name)
        sound = read_table(other, "hubs" if name == "parcels" else "parcels")
        parcels, hubs = (damaged, sound) if name == "parcels" else (sound, damaged)
        inputs = validate(parcels, hubs)
        rows = inputs.parcels.num_rows + inputs.rejects.num_rows
        assert rows == parcels.num_rows + hubs.num_rows - inputs.hubs.num_rows, "rows lost in validate"
        return 0
    except InputError as exc:
        text = str(exc)
        if "\n" in text or not text.startswith(f"{name} file {path}: "):
            with open(err_path, "w") as f:
                f.write(f"bad message: {text!r}")
            return 1
        return 2
    except BaseException:  # noqa: BLE001 - reported to the test, which fails
        with open(err_path, "w") as f:
            traceback.print_exc(file=f)
        return 1


def main(argv: list[str]) -> None:
    import planner.contract  # noqa: F401  (imported once, before the forks)

    name, other, files = argv[0], argv[1], argv[2:]
    scratch = tempfile.mkdtemp(prefix="fuzz-")
    for i, path in enumerate(files):
        err_path = os.path.join(scratch, f"{i}.err")
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns into the parent's code
            code = 1
            try:
                code = _child(name, other, path, err_path)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        result: dict[str, object] = {"file": path}
        if os.WIFSIGNALED(status):
            result["signal"] = os.WTERMSIG(status)
        else:
            result["exit"] = os.WEXITSTATUS(status)
        if os.path.exists(err_path):
            with open(err_path) as f:
                result["error"] = f.read()
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The output location (planner.contract.target): refused before any work, locked, swapped in atomically,
a killed run's debris removed, symbolic links followed and kept."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from planner.contract import target as T
from planner.contract.target import OutputTarget, TargetBusy, check_target, is_plan, open_target
from planner.contract.write import write_outputs
from planner.errors import InputError
from tests.contract.test_write import outputs


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_what_is_a_plan(tmp_path: Path) -> None:
    write_outputs(tmp_path / "plan", *outputs())
    assert is_plan(tmp_path / "plan")
    (tmp_path / "plan" / "report.html").write_text("")  # reports of earlier versions sat outside the manifest
    assert is_plan(tmp_path / "plan")
    (tmp_path / "plan" / "extra.csv").write_text("")
    assert not is_plan(tmp_path / "plan")
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "manifest.json").write_text('{"files": "all of them"}')
    assert not is_plan(tmp_path / "fake") and not is_plan(tmp_path / "none")


def test_checks_touch_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "p.arrow").write_bytes(b"x")
    monkeypatch.chdir(inputs)
    for path, message in ((inputs, "holds the input file"), (tmp_path, "holds the input file"),
                          (".", "not . or .."), ("sub/..", "not . or .."), (inputs / "p.arrow", "not a directory"),
                          (inputs / "p.arrow" / "x", "is not a directory")):
        with pytest.raises(InputError, match=message):
            check_target(path, [inputs / "p.arrow"])
    with pytest.raises(InputError, match="is or contains the current directory"):
        check_target(inputs)
    check_target(inputs / "plan", [inputs / "p.arrow"])  # a new folder beside the inputs is fine
    check_target(tmp_path / "a" / "b" / "plan")  # so are missing parents
    assert names(tmp_path) == ["in"] and names(inputs) == ["p.arrow"]


def test_missing_parents_are_made_and_removed_again_when_the_run_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), open_target(tmp_path / "a" / "b" / "plan"):
        assert (tmp_path / "a" / "b").is_dir()
        raise RuntimeError("the plan failed")
    assert names(tmp_path) == []


def test_the_lock(tmp_path: Path) -> None:
    with open_target(tmp_path / "plan") as held:
        assert held.lock_path.exists()
        with pytest.raises(TargetBusy, match=r"another hexroute run is writing it"), open_target(tmp_path / "plan"):
            pass
        with open_target(held) as same:  # the run that holds it passes it on
            assert same is held
    assert names(tmp_path) == []  # the lock file goes with the lock
    # a lock file left by a killed run (its flock died with it) is taken over
    (tmp_path / ".plan.lock").write_text("")
    with open_target(tmp_path / "plan"):
        pass
    assert names(tmp_path) == []


def test_debris_of_killed_runs_is_removed_and_a_moved_aside_plan_restored(tmp_path: Path) -> None:
    write_outputs(tmp_path / "plan", *outputs())
    (tmp_path / ".plan.tmp-0a1b").mkdir()
    (tmp_path / ".plan.tmp-0a1b" / "routes.arrow").write_bytes(b"half")
    os.rename(tmp_path / "plan", tmp_path / ".plan.old-2c3d")  # killed between the two renames of the fallback
    (tmp_path / ".other.tmp-9999").mkdir()  # another target's: not ours to remove
    with open_target(tmp_path / "plan"):
        assert names(tmp_path) == [".other.tmp-9999", ".plan.lock", "plan"] and is_plan(tmp_path / "plan")
    write_outputs(tmp_path / "plan", *outputs())
    assert names(tmp_path) == [".other.tmp-9999", "plan"]


@pytest.mark.parametrize("exchange", [True, False])
def test_an_earlier_plan_is_replaced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool) -> None:
    if not exchange:  # a system without renameat2: two renames
        monkeypatch.setattr(T, "_exchange", lambda a, b: False)
    write_outputs(tmp_path / "plan", *outputs())
    write_outputs(tmp_path / "plan", {"rejects": outputs()[0]["rejects"]}, {})
    assert names(tmp_path / "plan") == ["manifest.json", "rejects.arrow"] and names(tmp_path) == ["plan"]


def test_a_symbolic_link_is_followed_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "store" / "plan"
    write_outputs(real, *outputs())
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    write_outputs(tmp_path / "link", {"rejects": outputs()[0]["rejects"]}, {})
    assert (tmp_path / "link").is_symlink() and os.readlink(tmp_path / "link") == str(real)
    assert names(real) == ["manifest.json", "rejects.arrow"]
    assert names(tmp_path) == ["link", "store"] and names(tmp_path / "store") == ["plan"]  # no stale .old
    dangling = tmp_path / "dangling"
    dangling.symlink_to(tmp_path / "elsewhere" / "plan")
    write_outputs(dangling, *outputs())
    assert is_plan(tmp_path / "elsewhere" / "plan") and dangling.is_symlink()


def test_new_directories_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        made = OutputTarget(tmp_path / "plan").new_directory()
    finally:
        os.umask(old)
    assert made.name.startswith(".plan.tmp-") and (made.stat().st_mode & 0o777) == 0o750

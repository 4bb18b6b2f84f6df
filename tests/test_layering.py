"""The import rules of ../shared/DESIGN.md, read from the source (no module is imported).

- planner.contract imports no stage and nothing of planner.run;
- planner.stages import no Arrow and nothing of planner.run;
- simulate reaches the planner through planner.run and the contract (no stage, no device door, no kernel);
- report and synth reach the planner only through planner.contract (plus errors, settings, and the report's
  stage clock in planner.run.clock); cvrp through planner.run and the contract; none of the three imports a
  stage or the device door;
- kernels import no planner and no pyarrow; kernels.cuda does not import kernels.cpu; kernels.core imports
  neither backend driver;
- only planner.device (and planner.synth.geo / planner.report.plots for formulas and constants) import kernels.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("planner", "kernels")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (lazy imports in functions count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


MODULES = {_module_name(p): _imports(p) for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _offenders(importer: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    bad = []
    for module, imports in MODULES.items():
        if not _within(module, importer):
            continue
        for name in sorted(imports):
            if any(_within(name, f) for f in forbidden) and not any(_within(name, a) for a in allowed):
                bad.append(f"{module} imports {name}")
    return bad


def test_the_walk_sees_the_packages() -> None:
    for name in ("planner.contract.validate", "planner.stages.assign", "planner.run.pipeline", "planner.device",
                 "kernels.core.split", "kernels.cpu.split", "kernels.cuda.split"):
        assert name in MODULES, name


@pytest.mark.parametrize("importer, forbidden, allowed", [
    ("planner.contract", ("planner.stages", "planner.run", "planner.device", "kernels"), ()),
    ("planner.stages", ("pyarrow", "planner.run", "planner.contract.read", "planner.contract.write",
                        "planner.contract.validate", "planner.contract.arrays", "kernels.api", "kernels.cpu",
                        "kernels.cuda"), ()),
    ("planner.report", ("planner.stages", "planner.device", "planner.cvrp", "planner.synth", "planner.run",
                        "kernels.api", "kernels.cpu", "kernels.cuda"), ("planner.run.clock",)),
    ("planner.synth", ("planner.stages", "planner.device", "planner.run", "planner.report", "planner.cvrp",
                       "kernels.cpu", "kernels.cuda"), ()),
    ("planner.cvrp", ("planner.stages", "planner.report", "planner.synth", "kernels.api", "kernels.cpu",
                      "kernels.cuda"), ()),
    ("planner.simulate", ("planner.stages", "planner.device", "planner.cvrp", "kernels"), ()),
    ("kernels", ("planner", "pyarrow"), ()),
    ("kernels.cuda", ("kernels.cpu",), ()),
    ("kernels.core", ("kernels.cpu", "kernels.cuda", "kernels.api"), ()),
])
def test_import_rules(importer: str, forbidden: tuple[str, ...], allowed: tuple[str, ...]) -> None:
    assert _offenders(importer, forbidden, allowed) == []


def test_only_the_device_door_calls_kernel_entry_points() -> None:
    """kernels.api and the backend drivers are imported by planner.device alone (synth uses one formula of
    kernels.api: the unit vectors its k-means runs on)."""
    users = {m for m, imports in MODULES.items() if _within(m, "planner")
             and any(_within(n, k) for n in imports for k in ("kernels.api", "kernels.cpu", "kernels.cuda"))}
    assert users <= {"planner.device", "planner.synth.geo"}

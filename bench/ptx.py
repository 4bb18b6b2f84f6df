"""Registers, spills, stack and shared memory of every CUDA kernel on the H200 (sm_90), with no GPU needed.

    python bench/ptx.py [--cc 9.0] [--kernels distance._pair_distances,...] [--no-fma]
                        [--json bench/ptx_sm90.json] [--markdown bench/ptx_sm90.md]

Each kernel is compiled by numba-cuda to PTX for the compute capability and
assembled by ``ptxas -v`` (:mod:`kernels.cuda.ptx`); the Markdown table goes
to stdout and, with the versions, to the tracked ``bench/ptx_sm90.md``, and the
figures to ``bench/ptx_sm90.json``. The ``fma`` columns count ``fma.rn.f64`` in
the PTX as compiled (NVVM's default ``-fma=1``) and with ``-fma=0``: the
difference is the a*b+c that NVVM contracted, one reason CPU and GPU floats
differ in the last bits. Needs numba-cuda, libNVVM, libNVRTC and ptxas
(the test dependencies install the wheels); run in a process without NUMBA_ENABLE_CUDASIM.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kernels.backend import cpu_model  # noqa: E402
from kernels.cuda import ptx  # noqa: E402

HERE = Path(__file__).resolve().parent


def measure(cc: tuple[int, int], names: list[str] | None, fma: bool) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Every variant's report as a dict (plus ``fma_f64_uncontracted`` with ``fma``), and the versions."""
    found_versions = ptx.check_toolchain(cc)
    table = ptx.variants()
    unknown = sorted(set(names or ()) - set(table))
    if unknown:
        raise SystemExit(f"unknown kernels: {', '.join(unknown)} (known: {', '.join(sorted(table))})")
    ptxas = ptx.find_ptxas()
    rows = []
    for name in sorted(names or table):
        kernel, specs = table[name]
        report, _ = ptx.measure(name, kernel, specs, cc=cc, ptxas=ptxas)
        row = report.as_dict()
        if fma:
            row["fma_f64_uncontracted"] = ptx.fma_count(
                ptx.compile_kernel(kernel, ptx.argtypes(specs), cc, contract=False))
        rows.append(row)
        print(f"  {name}: {report.registers} registers, {report.compile_s:.1f} s", file=sys.stderr)
    return rows, found_versions


def markdown(rows: list[dict[str, Any]], fma: bool) -> str:
    """The table: one row per kernel variant."""
    head = ["kernel", "registers/thread", "spill bytes (st/ld)", "stack bytes", "shared bytes", "compile s"]
    if fma:
        head += ["fma.rn.f64", "contracted"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for r in rows:
        cells = [f"`{r['name']}`", str(r["registers"]), f"{r['spill_stores']}/{r['spill_loads']}",
                 str(r["stack_bytes"]), str(r["shared_bytes"]), f"{r['compile_s'] + r['assemble_s']:.2f}"]
        if fma:
            cells += [str(r["fma_f64"]), str(r["fma_f64"] - r["fma_f64_uncontracted"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write the JSON and the Markdown copy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cc", default=".".join(map(str, ptx.TARGET_CC)), help="compute capability, e.g. 9.0")
    parser.add_argument("--kernels", default="", help="comma-separated variants (default: all)")
    parser.add_argument("--no-fma", action="store_true", help="skip the second compile that counts contractions")
    parser.add_argument("--json", default=str(HERE / "ptx_sm90.json"), help="JSON output ('' for none)")
    parser.add_argument("--markdown", default=str(HERE / "ptx_sm90.md"), help="Markdown copy ('' for none)")
    args = parser.parse_args(argv)
    major, minor = (int(x) for x in args.cc.split("."))
    cc = (major, minor)
    fma = not args.no_fma
    t0 = time.perf_counter()
    try:
        rows, found_versions = measure(cc, [k for k in args.kernels.split(",") if k] or None, fma)
    except ptx.ToolchainMissing as exc:
        print(f"bench/ptx.py: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    table = markdown(rows, fma)
    print(table)
    arch = f"sm_{major}{minor}"
    if args.json:
        doc = {
            "arch": arch, "cc": list(cc), "wall_s": round(wall, 1),
            "machine": {"cpu": cpu_model(), "platform": platform.platform(), "python": platform.python_version()},
            "versions": found_versions, "kernels": rows,
        }
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    if args.markdown:
        vers = ", ".join(f"{k} {v}" for k, v in found_versions.items() if k != "ptxas_path")
        Path(args.markdown).write_text(
            f"# CUDA kernels on {arch} (`python bench/ptx.py`)\n\n"
            f"Compiled by numba-cuda to PTX and assembled by `ptxas -arch={arch} -v`, no GPU involved. "
            f"Registers are per thread; spills and stack are local memory per thread; shared is static shared "
            f"memory per block; compile s is numba-cuda plus ptxas on one core. `contracted` is how many "
            f"`fma.rn.f64` NVVM's default `-fma=1` adds over `-fma=0`.\n\n"
            f"Versions: {vers}.\n\n{table}\n")
    print(f"\n{len(rows)} kernel variants in {wall:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

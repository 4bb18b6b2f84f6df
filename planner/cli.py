"""The ``hexroute`` command line: ``synth``, ``plan``, ``cvrp`` and ``report``.

Exit status: 0 success, 2 bad input or usage, 1 internal error.
"""
from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from planner import __version__
from planner.errors import HexrouteError

log = logging.getLogger("hexroute")


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show each option's default unless its help already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "(default" in text or action.default in (None, argparse.SUPPRESS) or action.option_strings == []:
            return text
        return super()._get_help_string(action) or text


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="print only errors")
    p.add_argument("--log-level", default=None, choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="logging level (default: WARNING on a terminal, where progress bars show; INFO otherwise)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand (defaults shown in each help)."""
    parser = argparse.ArgumentParser(prog="hexroute", description=__doc__.splitlines()[0],
                     formatter_class=_Help)
    parser.add_argument("--version", action="version", version=f"hexroute {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="write a synthetic parcel load and its hubs as Arrow files",
                       formatter_class=_Help)
    s.add_argument("out", help="output directory (parcels.arrow, hubs.arrow)")
    s.add_argument("--parcels", type=int, default=200_000, help="number of parcels")
    s.add_argument("--hubs", type=int, default=200, help="number of hubs")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument("--region", default="national", help="nyc, la, chicago or national")
    _add_common(s)

    p = sub.add_parser("plan", help="plan parcels onto hub routes and write the contract outputs",
                       formatter_class=_Help)
    p.add_argument("--parcels", required=True, help="parcels file (.arrow, .feather or .parquet)")
    p.add_argument("--hubs", required=True, help="hubs file (.arrow, .feather or .parquet)")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--config", default=None,
                   help="settings TOML file (keys in README.md; default: none, every setting at its default)")
    p.add_argument("--backend", default=None, choices=["auto", "cpu", "cuda"],
                   help="where kernels run (default: the settings' backend, auto)")
    p.add_argument("--time-budget", type=float, default=None,
                   help="seconds for the improve stage (default: scales with the number of stops)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the settings' seed, 0)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="plan the hub groups on the Dask cluster of this scheduler, e.g. tcp://host:8786 "
                            "(default: in-process)")
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="plan the hub groups on a local Dask cluster of N processes (default: in-process)")
    p.add_argument("--no-report", action="store_true", help="do not write report.html and its PNGs")
    _add_common(p)

    r = sub.add_parser("report", help="write report.html (and its PNGs) for an output directory",
                       formatter_class=_Help)
    r.add_argument("outdir", help="output directory of a plan; report.html is written into it")
    r.add_argument("--parcels", default=None,
                   help="the run's parcels file, for the maps, rejects per tier and on-time shares (default: none)")
    r.add_argument("--hubs", default=None, help="the run's hubs file, given with --parcels (default: none)")
    r.add_argument("--metro", default=None,
                   help="hub_id at the centre of the regional route map (default: the hub whose 25 km "
                        "neighbourhood plans the most parcels)")
    _add_common(r)

    v = sub.add_parser("cvrp", help="solve a CVRPLIB instance (EUC_2D, rounded edges) and write its .sol",
                       formatter_class=_Help)
    v.add_argument("instance", help="VRPLIB .vrp file")
    v.add_argument("--seconds", type=float, required=True, help="search time budget in seconds")
    v.add_argument("--seed", type=int, default=0, help="random seed")
    v.add_argument("--out", default=None, help="write the solution here in VRPLIB .sol format (default: none)")
    v.add_argument("--backend", default="cpu", choices=["auto", "cpu", "cuda"],
                   help="where the route and local-search kernels run; SISR runs on the CPU")
    _add_common(v)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    if getattr(args, "quiet", False):
        level = logging.ERROR
    elif args.log_level:
        level = getattr(logging, args.log_level)
    else:
        level = logging.WARNING if sys.stderr.isatty() else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)


def _run_synth(args: argparse.Namespace) -> int:
    from planner import synth

    paths = synth.write_load(args.out, n_parcels=args.parcels, n_hubs=args.hubs, seed=args.seed,
                             region=args.region, progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        print(f"wrote {args.parcels:,} parcels to {paths['parcels']} and {args.hubs:,} hubs to {paths['hubs']}")
    return 0


def _settings(args: argparse.Namespace):
    """Settings from --config, then the command-line overrides."""
    import dataclasses

    from planner.settings import Settings

    settings = Settings.from_toml(args.config) if args.config else Settings()
    changes = {}
    if args.backend is not None:
        changes["backend"] = args.backend
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.time_budget is not None:
        changes["improve"] = dataclasses.replace(settings.improve, time_budget_s=args.time_budget)
    return settings.replace(**changes) if changes else settings


def _run_plan(args: argparse.Namespace) -> int:
    from planner.run.pipeline import plan_files
    from planner.run.runners import open_runner

    settings = _settings(args)
    with open_runner(args.scheduler, args.workers) as runner:  # connects before reading any input
        result = plan_files(args.parcels, args.hubs, args.out, settings,
                            progress=not args.quiet and sys.stderr.isatty(), runner=runner)
    if not args.quiet:
        print(format_summary(result.summary, args.out))
    if not args.no_report:
        _report(args, args.out, args.parcels, args.hubs, None)
    return 0


def _report(args: argparse.Namespace, out_dir: str, parcels: str | None, hubs: str | None,
            metro: str | None) -> None:
    """Write report.html into ``out_dir`` and say where it went."""
    from planner.report import write_report

    result = write_report(out_dir, parcels, hubs, metro_hub=metro, progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        print(f"report in {result.html}")


def _run_report(args: argparse.Namespace) -> int:
    """``hexroute report OUTDIR``: the report of an existing output directory."""
    _report(args, args.outdir, args.parcels, args.hubs, args.metro)
    return 0


def _run_cvrp(args: argparse.Namespace) -> int:
    """``hexroute cvrp INSTANCE``: solve, print the cost, optionally write the .sol file."""
    from planner import cvrp

    instance = cvrp.read_instance(args.instance)
    solution = cvrp.solve(instance, args.seconds, seed=args.seed, backend=args.backend)
    cvrp.check_solution(instance, solution.routes)
    if args.out:
        cvrp.write_solution(args.out, solution)
    if not args.quiet:
        print(f"{instance.name}: cost {solution.cost} with {len(solution.routes)} routes "
              f"({solution.iterations:,} iterations)")
    return 0


def format_summary(summary: dict, out_dir: str) -> str:
    """A short Markdown table of a plan's summary, for the terminal."""
    t = summary["totals"]
    lines = [
        "| parcels | planned | deferred | unassigned | rejected | stops | routes | km | cost USD | CO2 kg |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {t['parcels']:,} | {t['parcels_planned']:,} | {t['parcels_deferred']:,} | {t['parcels_unassigned']:,} "
        f"| {t['parcels_rejected']:,} | {t['stops']:,} | {t['routes']:,} | {t['distance_km']:,.0f} "
        f"| {t['cost_usd']:,.0f} | {t['co2_kg']:,.0f} |",
        "",
        "| tier | planned | deferred | unassigned |",
        "|---|---:|---:|---:|",
    ]
    for tier, counts in summary["tiers"].items():
        lines.append(f"| {tier} | {counts['planned']:,} | {counts['deferred']:,} | {counts['unassigned']:,} |")
    times = ", ".join(f"{k} {v:.1f}s" for k, v in summary["timings_s"].items())
    lines += ["", f"backend {summary['backend']} ({summary['device']}); stages: {times}",
              f"outputs in {out_dir}"]
    return "\n".join(lines)


COMMANDS = {"synth": _run_synth, "plan": _run_plan, "report": _run_report, "cvrp": _run_cvrp}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hexroute`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        return COMMANDS[args.command](args)
    except HexrouteError as exc:
        print(f"hexroute: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except KeyboardInterrupt:
        print("hexroute: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, status 1
        log.debug("internal error", exc_info=True)
        print(f"hexroute: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

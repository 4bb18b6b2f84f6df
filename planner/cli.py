"""The ``hexroute`` command line: ``synth``, ``plan``, ``simulate``, ``compare``, ``cvrp`` and ``report``.

Exit status: 0 success, 2 bad input or usage, 1 internal error.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from planner import __version__
from planner.errors import HexrouteError, Terminated, first_line

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
    s.add_argument("--region", default="national",
                   help="nyc, la, chicago, baltimore, harrisburg or national (default: national)")
    s.add_argument("--bbox", default=None, metavar="LAT0,LON0,LAT1,LON1",
                   help="parcels around the ZIP codes inside this box instead of a named region (default: none)")
    _add_common(s)

    p = sub.add_parser("plan", help="plan parcels onto hub routes and write the contract outputs",
                       formatter_class=_Help)
    p.add_argument("--parcels", required=True, help="parcels file (.arrow, .feather or .parquet)")
    _add_plan_options(p, "random seed (default: the settings' seed, 0)")
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

    m = sub.add_parser("simulate", help="plan several days, carrying each day's deferred parcels to the next",
                       formatter_class=_Help)
    days = m.add_mutually_exclusive_group(required=True)
    days.add_argument("--days-dir", default=None, metavar="D",
                      help="directory with one parcels file per day (.arrow, .feather or .parquet), in name order "
                           "(default: none; this or --synth)")
    days.add_argument("--synth", default=None, metavar="REGION",
                      help="synthetic days of this region (national, nyc, la, chicago); needs --parcels-per-day "
                           "(default: none; this or --days-dir)")
    _add_days_options(m, "number of days (default: every file of --days-dir; 5 with --synth)")
    m.add_argument("--network", default=None, choices=["shared", "separate"],
                   help="shared: any parcel on any hub; separate: each parcel only on the hubs of the operator "
                        "that sold it (default: the settings' network, shared)")
    _add_run_options(m)

    c = sub.add_parser("compare", help="plan the same load with shared and with separate networks, side by side",
                       formatter_class=_Help)
    load = c.add_mutually_exclusive_group(required=True)
    load.add_argument("--parcels", default=None,
                      help="parcels file, the same load every day (default: none; one of the three)")
    load.add_argument("--days-dir", default=None, metavar="D",
                      help="directory with one parcels file per day, in name order (default: none)")
    load.add_argument("--synth", default=None, metavar="REGION",
                      help="synthetic days of this region; needs --parcels-per-day (default: none)")
    _add_days_options(c, "number of days (default: 1 with --parcels, every file of --days-dir, 5 with --synth)")
    _add_run_options(c)

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


def _add_days_options(p: argparse.ArgumentParser, days_help: str) -> None:
    p.add_argument("--parcels-per-day", type=int, default=None, metavar="N",
                   help="new parcels a day with --synth (default: none; required with --synth)")
    p.add_argument("--days", type=int, default=None, metavar="K", help=days_help)


def _add_effort_options(p: argparse.ArgumentParser) -> None:
    """``--effort`` (work, so plans repeat) and ``--time-cap`` (a safety limit that says when it cuts)."""
    from planner.settings import ImproveSettings

    p.add_argument("--effort", type=float, default=None, metavar="S",
                   help="search effort in seconds of the reference machine, turned into a fixed amount of work "
                        "(README.md, Effort); more effort never gives a longer plan (default: "
                        f"{ImproveSettings().default_effort_text()})")
    p.add_argument("--time-cap", dest="time_cap", type=float, default=None, metavar="S",
                   help="wall-clock safety cap of the improve stage in seconds; a plan it cuts says so in "
                        "summary.json (default: 10 x the effort, at least 600 s)")


def _add_plan_options(p: argparse.ArgumentParser, seed_help: str) -> None:
    """What every planning command takes after its load: hubs, output, settings, backend, effort, seed, where
    the hub groups run, and whether to write the report."""
    p.add_argument("--hubs", required=True, help="hubs file (.arrow, .feather or .parquet)")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--config", default=None,
                   help="settings TOML file (keys in README.md; default: none, every setting at its default)")
    p.add_argument("--backend", default=None, choices=["auto", "cpu", "cuda"],
                   help="where kernels run (default: the settings' backend, auto)")
    _add_effort_options(p)
    p.add_argument("--seed", type=int, default=None, help=seed_help)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="plan the hub groups on the Dask cluster of this scheduler, e.g. tcp://host:8786 "
                            "(default: in-process)")
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="plan the hub groups on a local Dask cluster of N processes (default: in-process)")
    p.add_argument("--no-report", action="store_true", help="do not write report.html and its PNGs")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    """The options ``simulate`` and ``compare`` share with ``plan``, and the day reports."""
    _add_plan_options(p, "random seed: the synthetic days and each day's plan derive theirs from it "
                         "(default: the settings' seed, 0)")
    p.add_argument("--day-reports", action="store_true",
                   help="also write each day's plan report (report.html with its maps in each day's directory)")
    _add_common(p)


def _configure_logging(args: argparse.Namespace) -> None:
    if getattr(args, "quiet", False):
        level = logging.ERROR
    elif args.log_level:
        level = getattr(logging, args.log_level)
    else:
        level = logging.WARNING if sys.stderr.isatty() else logging.INFO
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    if level > logging.DEBUG:
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, _NoTracebacks) for f in handler.filters):
                handler.addFilter(_NoTracebacks())


class _NoTracebacks(logging.Filter):
    """A library's log record (Dask's, when a scheduler goes away) shows its exception as one line, not as a
    traceback, on the terminal; ``--log-level DEBUG`` shows tracebacks."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[1] is not None and not record.name.startswith(log.name) \
                and log.getEffectiveLevel() > logging.DEBUG:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {first_line(exc)})".strip()
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True


def _run_synth(args: argparse.Namespace) -> int:
    from planner import synth

    region = args.region if args.bbox is None else synth.BBOX_PREFIX + args.bbox
    paths = synth.write_load(args.out, n_parcels=args.parcels, n_hubs=args.hubs, seed=args.seed,
                             region=region, progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        print(f"wrote {args.parcels:,} parcels to {paths['parcels']} and {args.hubs:,} hubs to {paths['hubs']}")
    return 0


def _settings(args: argparse.Namespace):
    """Settings from --config, then the command-line overrides."""
    import dataclasses

    from planner.errors import SettingsError
    from planner.settings import Settings

    settings = Settings.from_toml(args.config) if args.config else Settings()
    overrides = (("--backend", args.backend, lambda s, v: s.replace(backend=v)),
                 ("--seed", args.seed, lambda s, v: s.replace(seed=v)),
                 ("--effort", args.effort,
                  lambda s, v: s.replace(improve=dataclasses.replace(s.improve, effort_s=v))),
                 ("--time-cap", args.time_cap,
                  lambda s, v: s.replace(improve=dataclasses.replace(s.improve, time_cap_s=v))))
    for option, value, apply in overrides:
        if value is None:
            continue
        try:
            settings = apply(settings, value)
        except SettingsError as exc:
            raise SettingsError(f"{option} {value}: {exc}") from None
    return settings


def _run_plan(args: argparse.Namespace) -> int:
    """``hexroute plan``: the output location is checked and locked, then the cluster connected, before any
    input is read; the report is written into the new plan before its manifest."""
    from planner.contract.target import open_target
    from planner.run.pipeline import plan_files
    from planner.run.runners import open_runner

    settings = _settings(args)
    report = None if args.no_report else _report_writer(args, args.out, args.parcels, args.hubs, None)
    with open_target(args.out, inputs=(args.parcels, args.hubs)) as target, \
            open_runner(args.scheduler, args.workers, settings.cluster.no_worker_timeout_s) as runner:
        result = plan_files(args.parcels, args.hubs, target, settings,
                            progress=not args.quiet and sys.stderr.isatty(), runner=runner, extra=report)
    if not args.quiet:
        print(format_summary(result.summary, args.out))
        if report is not None:
            from planner.report import REPORT_NAME

            print(f"report in {Path(args.out) / REPORT_NAME}")
    return 0


def _report_writer(args: argparse.Namespace, out_dir: str, parcels: str | None, hubs: str | None,
                   metro: str | None) -> Callable[[Path], None]:
    """What writes report.html and its images into a plan's temporary directory (shown as ``out_dir``)."""
    from planner.report import write_report

    def write(directory: Path) -> None:
        write_report(directory, parcels, hubs, metro_hub=metro, progress=not args.quiet and sys.stderr.isatty(),
                     label=out_dir)

    return write


def _run_report(args: argparse.Namespace) -> int:
    """``hexroute report OUTDIR``: the report of an existing plan, written into a copy of it that replaces it
    atomically, its manifest listing the report (so a consumer never sees a half-updated plan)."""
    from planner.contract.write import rewrite_outputs
    from planner.report import REPORT_NAME, is_report_file

    rewrite_outputs(args.outdir, _report_writer(args, args.outdir, args.parcels, args.hubs, args.metro),
                    drop=is_report_file)
    if not args.quiet:
        print(f"report in {Path(args.outdir) / REPORT_NAME}")
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


def _day_source(args: argparse.Namespace, seed: int, hubs: Any) -> Any:
    """The days ``simulate`` or ``compare`` plan, from the command line's load options."""
    from planner.errors import InputError
    from planner.simulate.sources import DayFiles, Repeated, Synthetic

    if (args.parcels_per_day is not None) != (args.synth is not None):
        raise InputError("--parcels-per-day goes with --synth, and --synth needs it")
    if args.synth is not None:
        source: Any = Synthetic(args.synth, args.parcels_per_day, 5 if args.days is None else args.days, seed, hubs)
    elif args.days_dir is not None:
        if args.days is not None and args.days < 1:
            raise InputError(f"--days must be a positive integer, not {args.days}")
        source = DayFiles.of_directory(args.days_dir, args.days)
    else:
        from planner.contract import read_table

        if args.days is not None and args.days < 1:
            raise InputError(f"--days must be a positive integer, not {args.days}")
        source = Repeated(read_table(args.parcels, "parcels"), 1 if args.days is None else args.days)
    source.check()
    return source


def _run_days(args: argparse.Namespace, kind: str) -> int:
    """``hexroute simulate`` and ``hexroute compare``: the output location is checked, then the inputs read, the
    cluster connected, and the days planned into a temporary directory that replaces the output at the end."""
    from planner.contract.target import check_target
    from planner.run.runners import open_runner
    from planner.simulate import compare, simulate
    from planner.simulate.days import hubs_table

    settings = _settings(args)
    if getattr(args, "network", None) is not None:
        settings = settings.replace(network=args.network)
    named = [x for x in (args.hubs, getattr(args, "parcels", None)) if x is not None]
    check_target(args.out, named)
    hubs, _ = hubs_table(args.hubs)
    source = _day_source(args, settings.seed, hubs)
    progress = not args.quiet and sys.stderr.isatty()
    with open_runner(args.scheduler, args.workers, settings.cluster.no_worker_timeout_s) as runner:
        run = simulate if kind == "simulate" else compare
        result = run(source, args.hubs, settings, args.out, runner=runner, progress=progress,
                     report=not args.no_report, day_reports=args.day_reports)
    if not args.quiet:
        print(format_days(result.document, kind, args.out))
    return 0


def format_days(document: dict, kind: str, out_dir: str) -> str:
    """A short Markdown table of a simulation's days, or of both networks of a comparison, for the terminal."""
    runs = {"": document} if kind == "simulate" else {
        net: {"days": [{"day": d["day"], "parcels": {"planned": d["planned"], "deferred": d["backlog"],
                                                     "unassigned": d["unassigned"]}, "wall_s": d["wall_s"]}
                       for d in document["per_day"][net]]} for net in ("shared", "separate")}
    lines = ["| network | day | planned | deferred | unassigned | plan s |", "|---|---:|---:|---:|---:|---:|"]
    for net, doc in runs.items():
        name = net or document["network"]
        for d in doc["days"]:
            p = d["parcels"]
            lines.append(f"| {name} | {d['day']} | {p['planned']:,} | {p['deferred']:,} | {p['unassigned']:,} "
                         f"| {d['wall_s']:.1f} |")
    lines += ["", f"outputs in {out_dir}"]
    return "\n".join(lines)


COMMANDS = {"synth": _run_synth, "plan": _run_plan, "report": _run_report, "cvrp": _run_cvrp,
            "simulate": lambda args: _run_days(args, "simulate"), "compare": lambda args: _run_days(args, "compare")}
#: exit status after SIGTERM (128 + 15, as a shell reports a process the signal ended)
TERMINATED_STATUS = 143


class _Sigterm:
    """SIGTERM as Ctrl-C: Terminated is raised in the main thread so that every clean-up runs; later SIGTERMs
    are ignored while it unwinds (a supervisor that means it sends SIGKILL, whose debris the next run removes).

    Python runs a signal handler wherever the main thread is, a garbage-collector callback or a finaliser
    included, and an exception raised there is only reported and dropped: such a Terminated is caught by
    :meth:`unraisable`, which has SIGTERM sent again, a moment later, for a place that can raise it.
    Anything else a finaliser drops goes to the debug log, not to the terminal (a run's outcome is its own
    one line).
    """

    def __init__(self) -> None:
        self.raised = False

    def handle(self, signum: int, frame: Any) -> None:
        if self.raised:
            return
        self.raised = True
        raise Terminated()

    def unraisable(self, unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, Terminated):
            self.raised = False
            again = threading.Timer(0.01, os.kill, (os.getpid(), signal.SIGTERM))  # from outside the finaliser
            again.daemon = True
            again.start()
            return
        log.debug("ignored in %r: %r", unraisable.object, unraisable.exc_value)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigterm = _Sigterm()
    previous, hook = signal.signal(signal.SIGTERM, sigterm.handle), sys.unraisablehook
    sys.unraisablehook = sigterm.unraisable
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = hook


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hexroute`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args)
    try:
        with _sigterm_as_interrupt():
            return COMMANDS[args.command](args)
    except HexrouteError as exc:
        print(f"hexroute: error: {exc}", file=sys.stderr)
        return exc.exit_status
    except Terminated:
        print("hexroute: terminated", file=sys.stderr)
        return TERMINATED_STATUS
    except KeyboardInterrupt:
        print("hexroute: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, status 1
        log.debug("internal error", exc_info=True)
        print(f"hexroute: internal error: {type(exc).__name__}: {first_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

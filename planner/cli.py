"""The ``hexroute`` command line: ``synth``, ``plan``, ``cvrp`` and ``report``.

Exit status: 0 success, 2 bad input or usage, 1 internal error.
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from planner import __version__
from planner.errors import HexrouteError

log = logging.getLogger("hexroute")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its one-line message."""


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true", help="print only errors (default: off)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="logging level (default: %(default)s)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every subcommand (defaults shown in each help)."""
    parser = _Parser(prog="hexroute", description=__doc__.splitlines()[0],
                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--version", action="version", version=f"hexroute {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("synth", help="write a synthetic parcel load and its hubs as Arrow files",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    s.add_argument("out", help="output directory (parcels.arrow, hubs.arrow)")
    s.add_argument("--parcels", type=int, default=200_000, help="number of parcels")
    s.add_argument("--hubs", type=int, default=200, help="number of hubs")
    s.add_argument("--seed", type=int, default=0, help="random seed")
    s.add_argument("--region", default="national", help="nyc, la, chicago or national")
    _add_common(s)
    return parser


def _configure_logging(args: argparse.Namespace) -> None:
    level = logging.ERROR if getattr(args, "quiet", False) else getattr(logging, args.log_level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)


def _run_synth(args: argparse.Namespace) -> int:
    from planner import synth

    paths = synth.write_load(args.out, n_parcels=args.parcels, n_hubs=args.hubs, seed=args.seed,
                             region=args.region, progress=not args.quiet and sys.stderr.isatty())
    if not args.quiet:
        print(f"wrote {args.parcels:,} parcels to {paths['parcels']} and {args.hubs:,} hubs to {paths['hubs']}")
    return 0


COMMANDS = {"synth": _run_synth}


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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

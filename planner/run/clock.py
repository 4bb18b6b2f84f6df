"""Stage timings and progress: one bar over the stages on a terminal, log lines otherwise."""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("hexroute")


class StageClock:
    """Times named stages in order and reports progress as they complete."""

    def __init__(self, stages: tuple[str, ...], progress: bool | None = None):
        self.stages = stages
        self.seconds: dict[str, float] = {}
        show = sys.stderr.isatty() if progress is None else progress
        self._bar = None
        if show:
            from tqdm import tqdm

            self._bar = tqdm(total=len(stages), unit="stage", file=sys.stderr, leave=False)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name``."""
        if self._bar is not None:
            self._bar.set_description(name)
        log.info("stage %s ...", name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - t0, 4)
            log.info("stage %s done in %.2f s", name, self.seconds[name])
            if self._bar is not None:
                self._bar.update(1)

    def close(self) -> None:
        """Remove the progress bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

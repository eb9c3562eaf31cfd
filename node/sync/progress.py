"""Progress of a large backlog drain: a rich bar on a terminal, log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeRemainingColumn

log = logging.getLogger(__name__)

# Below this a drain takes well under a second and a bar would only flicker.
SHOW_FROM_BACKLOG = 1000
LOG_EVERY_S = 2.0


class DrainProgress:
    def __init__(self, branch: str) -> None:
        self.branch = branch
        self._start_acked: int | None = None
        self._started_s = 0.0
        self._last_log_s = 0.0
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def update(self, acked_seq: int, head_seq: int) -> None:
        backlog = head_seq - acked_seq
        if self._start_acked is None:
            if backlog < SHOW_FROM_BACKLOG:
                return
            self._begin(acked_seq, head_seq)
        assert self._start_acked is not None
        done, total = acked_seq - self._start_acked, head_seq - self._start_acked
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=total)
        now = time.monotonic()
        if self._bar is None and now - self._last_log_s >= LOG_EVERY_S:
            self._last_log_s = now
            rate = done / max(now - self._started_s, 1e-6)
            log.info(
                "%s: draining backlog, %d of %d entries sent (%.0f/s)",
                self.branch,
                done,
                total,
                rate,
            )
        if backlog == 0:
            log.info(
                "%s: backlog drained, %d entries in %.1f s",
                self.branch,
                total,
                now - self._started_s,
            )
            self.finish()

    def _begin(self, acked_seq: int, head_seq: int) -> None:
        self._start_acked = acked_seq
        self._started_s = self._last_log_s = time.monotonic()
        log.info("%s: draining a backlog of %d entries to HQ", self.branch, head_seq - acked_seq)
        if sys.stderr.isatty():
            self._bar = Progress(
                "[bold]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                transient=True,
            )
            self._task = self._bar.add_task(f"{self.branch} → HQ", total=head_seq - acked_seq)
            self._bar.start()

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar = None
        self._task = None
        self._start_acked = None

"""Progress of long work: a bar on a terminal, a line per stage otherwise (a log file, a job
scheduler's output), nothing when asked to be quiet."""

import sys
import time

from tqdm.auto import tqdm


class Progress:
    """``total`` steps of ``desc``: ``update(label)`` after each.  On a terminal (``quiet``
    None) or with ``quiet=False`` a tqdm bar; with ``quiet=None`` off a terminal, one line
    ``desc: i/total label (seconds)`` on stderr every ``every`` steps and at the last; with
    ``quiet=True`` nothing."""

    def __init__(self, total, desc, quiet=None, every=1):
        self.total, self.desc, self.every, self.done = total, desc, max(1, every), 0
        self.lines = quiet is None and not sys.stderr.isatty()
        self.bar = tqdm(total=total, desc=desc, leave=False,
                        disable=quiet is True or self.lines)
        self.start = time.perf_counter()

    def update(self, label=""):
        self.done += 1
        self.bar.update()
        if self.lines and (self.done % self.every == 0 or self.done == self.total):
            seconds = time.perf_counter() - self.start
            print(f"{self.desc}: {self.done}/{self.total} {label} ({seconds:.1f} s)".replace(
                "  ", " "), file=sys.stderr, flush=True)

    def close(self):
        self.bar.close()

"""At most once every so many seconds: the gate that progress reports share (the terminal's progress lines,
the training worker's event batches to the window, an evaluation's progress, the dataset checks')."""
from __future__ import annotations

import math
import time


class Pace:
    """`due()` is true at the first call, then once `every_s` seconds have passed since it was last true, and
    whenever `force` is true. A fresh Pace is due at once, also on a machine up for less than `every_s`."""

    def __init__(self, every_s: float):
        self.every_s, self._last = every_s, -math.inf

    def due(self, force: bool = False) -> bool:
        now = time.monotonic()
        if force or now - self._last >= self.every_s:
            self._last = now
            return True
        return False

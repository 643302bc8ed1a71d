"""A training run's pre-flight: a bounded sample before the first iteration, every other row as it is read.

Nothing before the first iteration reads every row: `RunChecks.start` checks a fixed sample of the split's
rows (or takes this dataset version's cached full report), and the loader workers check each row they
read (loader.RowCheck) and send the findings along with the batch. A row with an error is then reported
as a BadRowEvent and, per `data.bad_rows`, skipped and counted or the run stops with one sentence. The
report grows with every row read; the run folder gets it as preflight.json, and once it covers the whole
dataset it goes into the per-version cache, so the next run starts from the full report.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from segstudio.base.errors import DataError
from segstudio.base.files import atomic_write_text
from segstudio.data.preflight import ERROR_CODES, ROW_ERRORS, PreflightReport, PreflightTally, preflight, sample_rows
from segstudio.data.scan import ScanKey, load_cached, store
from segstudio.data.splits import Split
from segstudio.engine.events import BadRowEvent

SAMPLE_ROWS = 256          # rows checked before the first iteration, whatever the dataset's size
REPORT_FILE = "preflight.json"


def _bad_row_error(row: int, text: str) -> DataError:
    exc = DataError(f"Row {row} {text}; fix the row, leave it out with data.query, or set "
                    'data.bad_rows = "skip" to train without it.')
    exc.rows = [int(row)]
    return exc


class RunChecks:
    def __init__(self, key: ScanKey, num_rows: int, policy: str, emit: Callable = lambda event: None):
        self.key, self.num_rows, self.policy, self.emit = key, int(num_rows), policy, emit
        self.tally = PreflightTally()
        self.seen = np.zeros(self.num_rows, bool)
        self.skipped: set = set()
        self.cached: PreflightReport | None = None
        self.num_classes = key.num_classes

    @property
    def checking(self) -> bool:
        """Whether loader workers still need to check rows (not when a complete report is cached)."""
        return self.cached is None

    def start(self, ds, split, warn: Callable[[str], None]):
        """Check a sample of the split's rows (or take the cached full report); returns the split to train
        on, without the rows known to be bad when the policy skips them (DataError when it stops)."""
        rows = sorted(split.train + split.val)
        self.cached = load_cached(self.key).get("report")
        if self.cached is not None and self.cached.num_rows == self.num_rows:
            report, scope = self.cached, f"all {self.num_rows} rows, cached for this dataset version"
        else:
            self.cached = None
            picks = sample_rows(len(rows), SAMPLE_ROWS)
            sample = rows if picks is None else [rows[i] for i in picks]
            report = preflight(ds, self.key.mapping, self.key.box_format, rows=sample,
                               num_classes=self.num_classes, tally=self.tally)
            self.seen[sample] = True
            scope = (f"a sample of {len(sample)} of {len(rows)} rows; the others are checked as training reads "
                     "them" if picks is not None else f"all {len(rows)} rows")
        for finding in report.warnings:
            warn(f"{finding.message} ({scope}).")
        bad = sorted(set(report.bad_rows) & set(rows))
        if bad and self.policy == "stop":
            first = report.errors[0]
            more = f" (and {len(report.errors) - 1} more problems)" if len(report.errors) > 1 else ""
            exc = DataError(f"{first.message}{more}".rstrip(".") + f" ({scope}); fix the data, exclude the rows "
                            'with data.query, or set data.bad_rows = "skip" to train without them.')
            exc.rows = bad[:10]
            raise exc
        if bad:
            self.skipped.update(bad)
            warn(f"Skipping {len(bad)} row(s) with errors (data.bad_rows = \"skip\"; {scope}); first rows: "
                 f"{', '.join(map(str, bad[:10]))}.")
            split = _without(split, set(bad))
        return split

    def batches(self, loader: Iterable, keep_empty: bool) -> Iterable:
        """The loader's batches as (images, targets, rows), consuming the findings the workers attach.

        A training batch whose rows were all skipped still comes out (empty), so that the loop keeps its
        epoch and resume accounting; validation leaves it out."""
        for batch in loader:
            if len(batch) == 4:
                self.consume(batch[3])
            if batch[0] or keep_empty:
                yield batch[0], batch[1], batch[2]

    def consume(self, findings: list) -> None:
        for row, codes, message in findings:
            row = int(row)
            if not self.seen[row]:
                self.seen[row] = True
                self.tally.add_row(row, codes)
            errors = [c for c in codes if c in ERROR_CODES]
            if not errors and not message:
                continue
            text = ROW_ERRORS.get(errors[0] if errors else "unreadable", ROW_ERRORS["unreadable"])
            if self.policy == "stop":
                self.emit(BadRowEvent(row, f"Row {row} {text}.", "stopped", len(self.skipped)))
                raise _bad_row_error(row, text)
            if row not in self.skipped:
                self.skipped.add(row)
                self.emit(BadRowEvent(row, f"Row {row} {text}; skipped.", "skipped", len(self.skipped)))

    def report(self) -> PreflightReport:
        if self.cached is not None:
            return self.cached
        return self.tally.report(self.num_rows, self.num_classes)

    def write(self, run_dir: Path | str | None) -> PreflightReport:
        """preflight.json in the run folder (with the rows this run skipped); cache it once complete."""
        report = self.report()
        if run_dir:
            out = dict(report.to_dict(), skipped_rows=sorted(self.skipped), policy=self.policy)
            try:
                atomic_write_text(Path(run_dir) / REPORT_FILE, json.dumps(out, indent=1) + "\n")
            except OSError:   # a full disk must not turn the run's own ending into a crash
                pass
        if self.cached is None and report.complete:
            store(self.key, report=report)
        return report


def _without(split, bad: set):
    return Split([r for r in split.train if r not in bad], [r for r in split.val if r not in bad], split.method,
                 dict(split.details, skipped_bad_rows=len(bad)))

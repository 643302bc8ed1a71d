"""Screenshots of every tab for the README, with a past run's curves and predictions shown.

    python scripts/readme_screenshots.py RUNS_DIR [--dataset URL] [--out docs/screenshots]

RUNS_DIR holds at least one finished run (e.g. from `segstudio train`); its newest run is selected in the
Training tab (curves overlaid) and the Evaluation tab (per-class AP, predictions worst first).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs_dir")
    parser.add_argument("--dataset", default="")
    parser.add_argument("--out", default="docs/screenshots")
    args = parser.parse_args()

    import tempfile

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication, QLineEdit

    from segstudio.data.demo import ensure_demo_dataset
    from segstudio.gui import MainWindow
    from segstudio.gui.app import process_events_until

    # What a new user sees: defaults, not this machine's remembered form values.
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    app = QApplication(sys.argv)
    window = MainWindow()
    window.resize(1360, 860)
    window.show()
    window.open_dataset(args.dataset or ensure_demo_dataset())
    preview = window.datasetPanel.sample.previewView
    process_events_until(app, lambda: getattr(preview, "array", None) is not None, 60)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def shoot(widget, name, settle=1.5):
        window.tabs.setCurrentWidget(widget)
        process_events_until(app, lambda: False, settle)
        window.grab().save(str(out / f"{name}.png"))
        print(f"saved {out / name}.png")

    shoot(window.datasetPanel, "dataset")
    shoot(window.augmentPanel, "augmentation")

    window.findChild(QLineEdit, "runsDirEdit").setText(args.runs_dir)
    train = window.trainPanel
    train.refresh_runs()
    if train.runList.count():
        train.runList.setCurrentRow(0)
    shoot(train, "training", settle=2.5)

    ev = window.evalPanel
    ev.refresh_runs()
    window.tabs.setCurrentWidget(ev)
    process_events_until(app, lambda: False, 1.0)
    ev.load_predictions()          # what "Show predictions" does: predict and score, worst first
    process_events_until(app, lambda: getattr(ev, "_browser", None) is not None, 240)
    shoot(ev, "evaluation", settle=3.0)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

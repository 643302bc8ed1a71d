"""Screenshots of every tab for the README, with a past run's curves and predictions shown.

    python scripts/readme_screenshots.py RUNS_DIR [--dataset URL] [--dense COCO_DIR] [--out docs/screenshots]

RUNS_DIR holds at least one finished run (e.g. from `segstudio train`); its newest run is selected in the
Training tab (curves overlaid) and the Evaluation tab (per-class AP, predictions worst first). With
--dense, COCO_DIR (images/ and annotations.json, e.g. ../shared/data/coco128) is imported into a temporary
dataset and its densest row is shown with the display toggles set for a dense scene (dense.png).
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
    parser.add_argument("--dense", default="", help="a COCO export folder (images/, annotations.json)")
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
    runs_edit = window.findChild(QLineEdit, "runsDirEdit")   # first: the Dataset tab names the runs on a version
    runs_edit.setText(args.runs_dir)
    runs_edit.editingFinished.emit()
    window.open_dataset(args.dataset or ensure_demo_dataset())
    preview = window.datasetPanel.sample.previewView
    process_events_until(app, lambda: getattr(preview, "array", None) is not None, 60)
    process_events_until(app, window.datasetPanel.versionRunsReader.idle, 30)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def shoot(widget, name, settle=1.5):
        window.tabs.setCurrentWidget(widget)
        process_events_until(app, lambda: False, settle)
        window.grab().save(str(out / f"{name}.png"))
        print(f"saved {out / name}.png")

    shoot(window.datasetPanel, "dataset")
    shoot(window.augmentPanel, "augmentation")

    train = window.trainPanel
    train.refresh_runs()
    runs = train.runs
    process_events_until(app, lambda: runs.runList.count() > 0 and runs.lister.idle(), 60)   # listed off-thread
    if runs.runList.count():
        from PySide6.QtCore import Qt
        runs.runList.setCurrentRow(0)
        runs.runList.item(0).setCheckState(Qt.CheckState.Checked)   # its curves overlaid (read off-thread)
        process_events_until(app, runs.overlayReader.idle, 60)
    shoot(train, "training", settle=2.5)

    ev = window.evalPanel
    ev.refresh_runs()
    window.tabs.setCurrentWidget(ev)
    process_events_until(app, lambda: False, 1.0)
    ev.load_predictions()          # what "Show predictions" does: predict and score, worst first
    process_events_until(app, lambda: getattr(ev, "_browser", None) is not None, 240)
    shoot(ev, "evaluation", settle=3.0)
    if args.dense:
        shoot_dense(app, window, Path(args.dense), shoot)
    window.close()
    return 0


def shoot_dense(app, window, coco: Path, shoot) -> None:
    """The densest row of an imported COCO export, masks faint, boxes off, labels on (dense.png)."""
    import tempfile

    from PySide6.QtWidgets import QCheckBox, QSpinBox

    from segstudio.data.coco_import import import_coco
    from segstudio.gui.app import process_events_until

    dest = str(Path(tempfile.mkdtemp(prefix="readme-dense-")) / "coco")
    import_coco(coco / "images", coco / "annotations.json", dest)
    window.open_dataset(dest)
    process_events_until(app, lambda: window.state.ready and window.state.url == dest, 120)
    mapped = window.state.mapped
    densest = max(range(window.state.num_rows), key=lambda r: mapped.read(r).num_instances)
    window.datasetPanel.sample.show_row(densest)
    window.findChild(QSpinBox, "sampleOpacitySpin").setValue(30)
    window.findChild(QCheckBox, "sampleBoxesCheck").setChecked(False)
    preview = window.datasetPanel.sample.previewView
    process_events_until(app, lambda: False, 2.0)
    process_events_until(app, lambda: preview.array is not None, 30)
    shoot(window.datasetPanel, "dense", settle=2.0)


if __name__ == "__main__":
    sys.exit(main())

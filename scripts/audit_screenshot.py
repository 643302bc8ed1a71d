"""The README's picture of the Audit view: coco128 imported, the cpu config's multiscale pipeline audited
beside the seed preset.

    python scripts/audit_screenshot.py [--coco ../shared/data/coco128] [--rows 128] [--draws 4]
                                       [--out docs/screenshots/audit.png]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coco", default=str(ROOT.parent / "shared" / "data" / "coco128"))
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--draws", type=int, default=4)
    parser.add_argument("--compare", default="seed")
    parser.add_argument("--out", default="docs/screenshots/audit.png")
    args = parser.parse_args()

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from segstudio.data.coco_import import import_coco
    from segstudio.gui import MainWindow
    from segstudio.gui.app import process_events_until

    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tempfile.mkdtemp())
    os.environ["SEGSTUDIO_CACHE_DIR"] = tempfile.mkdtemp(prefix="audit-shot-cache-")
    coco = Path(args.coco)
    dest = str(Path(tempfile.mkdtemp(prefix="audit-shot-")) / "coco128")
    import_coco(coco / "images", coco / "annotations.json", dest)
    app = QApplication(sys.argv)
    window = MainWindow()
    window.resize(1360, 860)
    window.show()
    window.open_dataset(dest)
    process_events_until(app, lambda: window.state.ready and window.state.url == dest, 120)
    panel, view = window.augmentPanel, window.augmentPanel.auditView
    window.tabs.setCurrentWidget(panel)
    panel.viewTabs.setCurrentWidget(view)
    view.rowsSpin.setValue(args.rows)
    view.drawsSpin.setValue(args.draws)
    view.compareCombo.setCurrentText(args.compare)
    view.start()
    process_events_until(app, lambda: not view.runner.is_running() and view.result is not None, 900)
    process_events_until(app, lambda: False, 1.0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(args.out)
    print(f"saved {args.out}: {view.statusLabel.text()}")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

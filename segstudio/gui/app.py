"""Start the window: application names and icon, the demo dataset on first run, optional screenshot."""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys

SCREENSHOT_TIMEOUT_MS = 180_000


def process_events_until(app, predicate, timeout_s: float, poll_s: float = 0.002) -> bool:
    """Run the event loop until predicate() holds or timeout_s passes (scripts and benchmarks that drive
    the window without pytest-qt); returns the predicate's last value."""
    import time
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        app.processEvents()
        if predicate():
            return True
        time.sleep(poll_s)
    return bool(predicate())


def _make_app():
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from segstudio.gui import settings

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(settings.APPLICATION)
    app.setOrganizationName(settings.ORGANIZATION)
    app.setApplicationDisplayName("segstudio")
    app.setDesktopFileName("segstudio")  # matches resources/segstudio.desktop (StartupWMClass)
    try:
        from segstudio.base.desktop import icon_path
        app.setWindowIcon(QIcon(icon_path("png")))
    except Exception:  # noqa: BLE001 - a missing icon must not stop the app
        pass
    return app


def ensure_demo_then(window, on_ready) -> None:
    """Create the demo dataset in a worker (visible progress on first run), then call on_ready(path)."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QProgressDialog

    from segstudio.data.demo import ensure_demo_dataset
    from segstudio.gui.workers import TaskRunner

    dialog = QProgressDialog("Creating the demo dataset (first run only) ...", None, 0, 0, window)
    dialog.setObjectName("demoProgressDialog")
    dialog.setWindowTitle("segstudio")
    dialog.setWindowModality(Qt.WindowModality.WindowModal)
    dialog.setMinimumDuration(400)
    runner = TaskRunner(window)
    window._demo_runner = runner  # keep the runner (and its thread) referenced while it works

    def progress(values):
        if len(values) >= 2:
            dialog.setMaximum(int(values[1]))
            dialog.setValue(int(values[0]))
            window.show_message(f"Creating the demo dataset (first run only): {values[0]}/{values[1]} images ...")

    def done_ok(path):
        dialog.close()
        on_ready(path)

    def failed(message):
        dialog.close()
        window.show_message(f"Cannot create the demo dataset: {message}", True)
        window._mark_loaded()

    runner.progress.connect(progress)
    runner.succeeded.connect(done_ok)
    runner.failed.connect(failed)
    window.show_message("Preparing the demo dataset ...")
    runner.start(lambda report, stop: ensure_demo_dataset(progress=report))


def run(dataset: str | None = None, screenshot: str | None = None) -> int:
    """Open the window (on `dataset`, else the last local dataset used, else the demo dataset); with
    `screenshot`, save a PNG and quit."""
    multiprocessing.freeze_support()
    if screenshot and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from segstudio.gui.platform_check import display_problem
    problem = display_problem()
    if problem:  # Qt would only say "could not load the Qt platform plugin" and abort
        print(problem, file=sys.stderr)
        return 1
    app = _make_app()
    from PySide6.QtCore import QTimer

    from segstudio.gui.main_window import MainWindow

    window = MainWindow()
    window.show()
    if screenshot:
        _arrange_screenshot(app, window, screenshot)
    from segstudio.gui.settings import startup_dataset
    dataset = dataset or startup_dataset()     # the last dataset used, else the demo
    if dataset:
        window.open_dataset(dataset)
    else:
        QTimer.singleShot(0, lambda: ensure_demo_then(window, window.open_dataset))
    code = int(app.exec())
    # A read the window abandoned on close (an open on an unreachable s3:// server) may still be blocked
    # in the storage library: it runs on a daemon thread, which the interpreter's exit leaves behind.
    return code or int(window.property("exitCode") or 0)


TAB_NAMES = ("dataset", "augmentation", "training", "evaluation", "review")


def _arrange_screenshot(app, window, path: str) -> None:
    """Once the first row is on screen, save the window as PNG and quit. A path containing "{tab}"
    saves one picture per tab (dataset, augmentation, training, evaluation), e.g. for the README."""
    from PySide6.QtCore import QTimer

    state = {"started": False}
    tabs = list(enumerate(TAB_NAMES)) if "{tab}" in path else [(0, "")]

    def shoot(remaining):
        index, name = remaining[0]
        window.tabs.setCurrentIndex(index)
        # give the tab's previews a moment to render in their thread
        QTimer.singleShot(1500, lambda: save(remaining, path.replace("{tab}", name)))

    def save(remaining, target):
        if not window.grab().save(target):
            print(f"error: cannot write the screenshot {target}; check that its folder exists and is "
                  "writable.", file=sys.stderr)
            window.setProperty("exitCode", 1)
            remaining = remaining[:1]
        else:
            print(f"saved {target}")
        if remaining[1:]:
            shoot(remaining[1:])
        else:
            window.close()
            app.quit()

    def start():
        if not state["started"]:
            state["started"] = True
            window.resize(1360, 860)
            shoot(tabs)
    window.loaded.connect(start)
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, start)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `segstudio-gui` (and of `segstudio gui`)."""
    parser = argparse.ArgumentParser(prog="segstudio-gui", description="Open the segstudio window.")
    parser.add_argument("--dataset", metavar="URL", help="dataset to open (default: the demo dataset)")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot once loaded, then quit "
                        "(a path with {tab} saves every tab)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return run(args.dataset, args.screenshot)


if __name__ == "__main__":
    sys.exit(main())

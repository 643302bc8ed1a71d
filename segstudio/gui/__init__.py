"""The segstudio window (PySide6 + pyqtgraph). Only this package imports Qt; it calls the core only."""
from segstudio.gui.main_window import MainWindow

__all__ = ["MainWindow"]

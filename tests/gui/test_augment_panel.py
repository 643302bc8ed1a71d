"""The augmentation panel's transform list: each item keeps its own parameters however it is reordered."""
import pytest
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QDoubleSpinBox, QGroupBox, QListWidget

from segstudio.base.config import AugmentConfig


@pytest.fixture
def panel(qtbot):
    from segstudio.gui.augment_panel import AugmentPanel
    from segstudio.gui.state import DatasetState
    from segstudio.gui.workers import RenderService

    renderer = RenderService()
    widget = AugmentPanel(DatasetState(), renderer)
    qtbot.addWidget(widget)
    qtbot.waitUntil(widget.catalogueReader.idle, timeout=60000)
    yield widget
    renderer.shutdown()


def _shown_p(panel) -> float:
    """The `p` shown in the parameter form of the selected transform."""
    box = next(b for b in panel.findChildren(QGroupBox) if b.title().startswith("Parameters of"))
    return box.findChildren(QDoubleSpinBox)[0].value()


def test_dragging_a_transform_above_another_of_the_same_name_keeps_each_ones_parameters(panel):
    transforms = [{"name": "HorizontalFlip", "p": 0.1}, {"name": "VerticalFlip", "p": 0.5},
                  {"name": "HorizontalFlip", "p": 0.9}]
    panel.set_augment_config(AugmentConfig(preset="custom", transforms=transforms))
    items = panel.findChild(QListWidget, "transformList")
    # what a drop inside the list does (QListWidget::dropEvent moves the row in its model)
    assert items.model().moveRow(QModelIndex(), 2, QModelIndex(), 0)

    assert [items.item(i).text() for i in range(3)] == ["HorizontalFlip", "HorizontalFlip", "VerticalFlip"]
    assert [t["p"] for t in panel.augment_config().transforms] == [0.9, 0.1, 0.5]
    items.setCurrentRow(1)
    items.setCurrentRow(0)
    assert _shown_p(panel) == pytest.approx(0.9)


def test_a_parameter_edited_after_a_drag_changes_the_transform_it_is_shown_for(panel):
    transforms = [{"name": "HorizontalFlip", "p": 0.1}, {"name": "HorizontalFlip", "p": 0.9}]
    panel.set_augment_config(AugmentConfig(preset="custom", transforms=transforms))
    items = panel.findChild(QListWidget, "transformList")
    items.setCurrentRow(0)
    assert items.model().moveRow(QModelIndex(), 0, QModelIndex(), 2)   # the selected one dropped last
    box = next(b for b in panel.findChildren(QGroupBox) if b.title().startswith("Parameters of"))
    box.findChildren(QDoubleSpinBox)[0].setValue(0.3)                 # the editor still on screen
    assert [t["p"] for t in panel.augment_config().transforms] == [0.9, 0.3]

"""The Training form's early-stopping settings, beside the evaluation interval: off by default, and what they set."""
from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QScrollArea, QSpinBox

from segstudio.base.config import Config, validate
from segstudio.base.errors import ConfigError
from segstudio.gui import config_form


def _form_config(panel) -> Config:
    cfg = Config()
    config_form.apply_form(cfg, panel.editors)
    return validate(cfg)


def test_early_stopping_on_validation_loss_from_the_form(make_window, screenshot_dir):
    window = make_window()
    panel = window.trainPanel
    window.tabs.setCurrentWidget(panel)
    spin = window.findChild(QSpinBox, "earlyStopPatienceSpin")
    combo = window.findChild(QComboBox, "earlyStopMetricCombo")
    check = window.findChild(QCheckBox, "valLossCheck")
    assert (spin.value(), combo.currentText(), check.isChecked()) == (0, "mask_ap", True)   # off by default
    spin.setValue(3)
    combo.setCurrentText("val_loss")
    cfg = _form_config(panel)
    ev = cfg.eval
    assert (ev.early_stopping_patience, ev.early_stopping_metric, ev.val_loss) == (3, "val_loss", True)
    panel.findChild(QScrollArea).ensureWidgetVisible(combo)
    window.grab().save(str(screenshot_dir / "train_early_stopping.png"))
    check.setChecked(False)
    with pytest.raises(ConfigError) as err:
        _form_config(panel)
    assert config_form.in_window_words(str(err.value)).startswith(
        'Early stop on (eval.early_stopping_metric) = "val_loss" needs Validation loss (eval.val_loss) = true')

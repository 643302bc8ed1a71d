"""The hyperparameter form: widgets bound to Config fields by dotted key ("train.lr").

Ranges and choices come from the config dataclasses' metadata, so the form allows what a TOML file
allows; cross-field checks are left to config.validate, whose message the panel shows.
"""
from __future__ import annotations

import dataclasses
import re

from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox, QWidget

from segstudio.base.config import Config

# (dotted key, label, objectName) in the order the form shows them, by group
GROUPS = {
    "Model": [("model.arch", "Architecture", "archCombo"),
              ("model.weights", "Weights", "weightsCombo")],
    "Data": [("augment.image_size", "Image size (px)", "imageSizeSpin"),
             ("data.split_column", "Split column", "splitColumnCombo"),
             ("data.val_fraction", "Validation fraction", "valFractionSpin"),
             ("eval.interval_epochs", "Evaluate every (epochs)", "evalIntervalSpin"),
             ("eval.val_loss", "Validation loss", "valLossCheck"),
             ("eval.early_stopping_patience", "Early stop after (evals, 0 = off)", "earlyStopPatienceSpin"),
             ("eval.early_stopping_metric", "Early stop on", "earlyStopMetricCombo"),
             ("train.repeat_factor_threshold", "Class balancing (0 = off)", "repeatFactorSpin")],
    "Optimisation": [("train.epochs", "Epochs", "epochsSpin"),
                     ("train.batch_size", "Batch size", "batchSizeSpin"),
                     ("train.lr", "Learning rate", "learningRateSpin"),
                     ("train.momentum", "Momentum", "momentumSpin"),
                     ("train.weight_decay", "Weight decay", "weightDecaySpin"),
                     ("train.optimizer", "Optimizer", "optimizerCombo"),
                     ("train.schedule", "Schedule", "scheduleCombo"),
                     ("train.warmup_iters", "Warm-up (iterations)", "warmupSpin"),
                     ("train.max_iters", "Stop after (iterations, 0 = all)", "maxItersSpin"),
                     ("train.ema", "Average the weights (EMA)", "emaCheck")],
    "Run": [("train.workers", "Loader workers", "workersSpin"),
            ("train.amp", "Mixed precision (CUDA)", "ampCheck"),
            ("train.tensorboard", "TensorBoard logs", "tensorboardCheck"),
            ("train.device", "Device", "deviceCombo"),
            ("train.seed", "Seed", "seedSpin"),
            ("train.run_name", "Run name", "runNameEdit"),
            ("train.runs_dir", "Runs folder", "runsDirEdit")],
}
RANDOM_SPLIT = "(random split)"   # the split column choice that means none: a seeded random split
DECIMALS = {"train.repeat_factor_threshold": 3, "train.lr": 5, "train.weight_decay": 6, "train.momentum": 3,
            "data.val_fraction": 3}


def field_of(key: str) -> dataclasses.Field:
    section, name = key.split(".")
    cls = type(getattr(Config(), section))
    return next(f for f in dataclasses.fields(cls) if f.name == name)


def make_editor(key: str, object_name: str) -> QWidget:
    f = field_of(key)
    meta, default = f.metadata, getattr(getattr(Config(), key.split(".")[0]), f.name)
    if key == "model.weights":   # gui/weights_field.WeightsRow lists what is present
        w = QComboBox(editable=True)
        w.addItems(["none", "auto", "coco", "imagenet"])
    elif key == "data.split_column":   # the dataset's text columns (set by the panel), not any typed text
        w = QComboBox()
        w.setProperty("emptyText", RANDOM_SPLIT)
        w.addItem(RANDOM_SPLIT)
    elif meta.get("choices"):
        w = QComboBox()
        w.addItems(list(meta["choices"]))
    elif isinstance(default, bool):
        w = QCheckBox()
    elif isinstance(default, int):
        w = QSpinBox(minimum=int(meta.get("min") or 0), maximum=int(meta.get("max") or 2**31 - 1))
        if meta.get("auto"):   # one below the minimum reads "auto"
            w.setMinimum(w.minimum() - 1)
            w.setSpecialValueText("auto")
    elif isinstance(default, float):
        w = QDoubleSpinBox(decimals=DECIMALS.get(key, 4), minimum=float(meta.get("min") or 0.0),
                           maximum=float(meta.get("max") if meta.get("max") is not None else 1e9))
        w.setSingleStep(10 ** -(DECIMALS.get(key, 4) - 1) if key != "train.lr" else 0.001)
        if key == "train.lr":   # a learning rate of 0 trains nothing, silently: the form stops at its last digit
            w.setMinimum(10 ** -DECIMALS[key])
    else:
        w = QLineEdit()
    w.setObjectName(object_name)
    if meta.get("help"):
        w.setToolTip(meta["help"])
    return w


def set_value(w: QWidget, value) -> None:
    if isinstance(w, QComboBox):
        if value == "" and w.property("emptyText"):
            value = w.property("emptyText")
        if w.isEditable():
            w.setCurrentText(str(value))
        else:
            i = w.findText(str(value))
            w.setCurrentIndex(max(i, 0))
    elif isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
        w.setValue(w.minimum() if value == "auto" and w.specialValueText() == "auto" else value)
    else:
        w.setText(str(value))


def get_value(w: QWidget):
    if isinstance(w, QComboBox):
        text = w.currentText().strip()
        return "" if text and text == w.property("emptyText") else text
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, (QSpinBox, QDoubleSpinBox)):
        if w.specialValueText() == "auto" and w.value() == w.minimum():
            return "auto"
        return w.value()
    return w.text().strip()


def changed_signal(w: QWidget):
    if isinstance(w, QComboBox):
        return w.currentTextChanged
    if isinstance(w, QCheckBox):
        return w.toggled
    if isinstance(w, (QSpinBox, QDoubleSpinBox)):
        return w.valueChanged
    return w.textChanged


def apply_form(cfg: Config, editors: dict[str, QWidget]) -> Config:
    for key, w in editors.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, get_value(w))
    return cfg


def fill_form(cfg: Config, editors: dict[str, QWidget]) -> None:
    for key, w in editors.items():
        section, name = key.split(".")
        set_value(w, getattr(getattr(cfg, section), name))


def in_window_words(message: str) -> str:
    """A core message with each config key it names preceded by the form's label for it:
    "data.split_column 'x' ..." -> "Split column (data.split_column) 'x' ...", so the window's user finds
    the field and a config file's user the key."""
    for rows in GROUPS.values():
        for key, label, _name in rows:
            if key in message and f"{label} ({key})" not in message:
                message = re.sub(rf"(?<![\w.]){re.escape(key)}(?![\w])", f"{label} ({key})", message)
    return message

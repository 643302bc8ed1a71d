"""Resume/Extend from the window with the form's optimiser settings (the run's config otherwise)."""
import functools

from PySide6.QtWidgets import QCheckBox

from segstudio.base.config import Config, save_config


def test_resume_takes_the_forms_optimiser_settings_when_ticked(window, tmp_path, monkeypatch):
    panel = window.trainPanel
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    cfg = Config()
    cfg.train.lr, cfg.train.momentum = 0.01, 0.9
    save_config(cfg, run / "config.toml")
    started = []
    monkeypatch.setattr(panel.runner, "start", lambda fn, cfg, **kw: started.append((fn, cfg, kw)))
    monkeypatch.setattr(panel.curves, "add_events", lambda events: None)
    panel.findChild(type(panel.editors["train.lr"]), "learningRateSpin").setValue(0.002)

    assert panel.start(resume=str(run))                           # not ticked: the run's own settings
    fn, run_cfg, _ = started[-1]
    assert not isinstance(fn, functools.partial) and run_cfg.train.lr == 0.01
    panel.runner.is_running = lambda: False

    panel.findChild(QCheckBox, "resumeWithFormCheck").setChecked(True)
    assert panel.start(resume=str(run), extend_epochs=2)
    fn, _, kw = started[-1]
    assert isinstance(fn, functools.partial) and fn.keywords["overrides"] == {"train.lr": 0.002}
    assert kw["extend_epochs"] == 2

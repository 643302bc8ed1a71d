"""A dataset version lists the runs trained on it: the run cards that record that dataset and commit."""
from segstudio.base.config import Config
from segstudio.data.mapped import open_mapped
from segstudio.engine import rundir
from segstudio.engine.version_runs import runs_by_version, runs_line, runs_on_version


def card(runs, name, url, version):
    """The run card a run on `url` at `version` writes (the training's own data.run_info and write_run_card)."""
    from segstudio.engine.train_data import build_train_data

    cfg = Config()
    cfg.data.url, cfg.data.version, cfg.data.split_column = url, version, "split"
    data = build_train_data(cfg)
    try:
        run_dir = runs / name
        run_dir.mkdir(parents=True)
        rundir.write_run_card(run_dir, cfg, data.run_info(), None)
    finally:
        data.close()


def test_each_version_lists_the_runs_that_trained_on_it(versioned_dataset, tmp_path):
    url, ids = versioned_dataset
    runs = tmp_path / "runs"
    card(runs, "on-main", url, "")
    card(runs, "on-exp", url, "exp")
    card(runs, "on-tag", url, "v1")
    (runs / "not-a-run").mkdir()
    by_version = runs_by_version(runs, url)
    assert by_version == {f"main@{ids['main']}": ["on-main"], f"exp@{ids['exp']}": ["on-exp"],
                          f"main@{ids['v1']}": ["on-tag"]}
    assert runs_on_version(runs, url, open_mapped(url, _data("exp")).ref) == ["on-exp"]
    assert runs_on_version(runs, url + "/", open_mapped(url).ref) == ["on-main"]     # the same dataset
    assert runs_on_version(runs, str(tmp_path / "other"), open_mapped(url).ref) == []
    assert runs_line(["b", "a"]) == "Trained on this version: b, a." and runs_line([]).startswith("No run")


def _data(version):
    cfg = Config()
    cfg.data.version = version
    return cfg.data

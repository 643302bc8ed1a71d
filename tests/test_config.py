"""Config: every setting loads from and saves to TOML; bad values name the key and what is allowed."""
import pytest

from segstudio.base.config import Config, config_from_dict, dumps_config, load_config, save_config
from segstudio.base.errors import ConfigError


def test_round_trip_keeps_every_value(tmp_path):
    cfg = Config()
    cfg.train.epochs = 3
    cfg.train.lr = 0.001
    cfg.data.url = "/data/x"
    cfg.data.class_names = ["a", "b"]
    cfg.augment.transforms = [{"name": "HorizontalFlip", "p": 0.5}]
    path = tmp_path / "run.toml"
    save_config(cfg, path)
    assert load_config(path) == cfg


def test_missing_keys_fall_back_to_defaults(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[train]\nepochs = 2\n")
    cfg = load_config(path)
    assert cfg.train.epochs == 2 and cfg.train.batch_size == Config().train.batch_size


def test_integer_accepted_where_a_number_is_expected():
    assert config_from_dict({"train": {"lr": 1}}).train.lr == 1.0


@pytest.mark.parametrize("values, words", [
    ({"train": {"epochs": "ten"}}, ["train.epochs", "integer"]),
    ({"train": {"epochs": 0}}, ["train.epochs", "between 1"]),
    ({"train": {"lr": -1.0}}, ["train.lr", "between"]),
    ({"train": {"optimizer": "rmsprop"}}, ["train.optimizer", "sgd", "adamw"]),
    ({"train": {"amp": 1}}, ["train.amp", "true or false"]),
    ({"train": {"epoch": 3}}, ["train.epoch", "allowed", "epochs"]),
    ({"training": {}}, ["[training]", "allowed"]),
    ({"model": {"arch": "yolo"}}, ["model.arch", "maskrcnn_resnet50_fpn"]),
    ({"augment": {"transforms": ["flip"]}}, ["augment.transforms[0]", "name"]),
    ({"data": {"val_fraction": 0.0}}, ["data.val_fraction"]),
])
def test_invalid_values_name_the_key(values, words):
    with pytest.raises(ConfigError) as err:
        config_from_dict(values)
    message = str(err.value)
    for word in words:
        assert word in message
    assert "\n" not in message


def test_malformed_toml_is_one_clear_error(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train\nepochs = 2\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")


def test_save_is_atomic_and_refuses_invalid(tmp_path):
    path = tmp_path / "c.toml"
    save_config(Config(), path)
    before = path.read_text()
    bad = Config()
    bad.train.epochs = -5
    with pytest.raises(ConfigError):
        save_config(bad, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["c.toml"]


def test_dumps_is_valid_toml_with_all_sections():
    text = dumps_config(Config())
    for section in ("[data]", "[augment]", "[model]", "[train]", "[eval]"):
        assert section in text


@pytest.mark.parametrize("name", ["a/b", "..", "x\\y", " spaced"])
def test_run_name_must_be_a_plain_folder_name(name):
    with pytest.raises(ConfigError, match="train.run_name"):
        config_from_dict({"train": {"run_name": name}})


def test_zero_learning_rate_is_refused():
    # lr 0 trains with flat curves and no message: refuse it up front
    with pytest.raises(ConfigError, match="train.lr"):
        config_from_dict({"train": {"lr": 0.0}})


def test_the_window_config_takes_the_panels_but_keeps_the_base_split_and_box_source():
    from segstudio.base.config import AugmentConfig, DataConfig, with_panels

    base = Config()
    base.data.split_column, base.data.train_value, base.augment.boxes_from_masks = "split", "tr", True
    data = DataConfig(url="mem://x", split_column="other", query="SELECT * WHERE x")
    aug = AugmentConfig(preset="strong", image_size=256, boxes_from_masks=False)
    cfg = with_panels(base, data, aug)
    assert (cfg.data.url, cfg.data.query, cfg.data.split_column, cfg.data.train_value) == \
        ("mem://x", "SELECT * WHERE x", "split", "tr")
    assert (cfg.augment.preset, cfg.augment.image_size, cfg.augment.boxes_from_masks) == ("strong", 256, True)
    assert base.data.url != "mem://x" and data.split_column == "other" and aug.boxes_from_masks is False


def test_changed_settings_names_only_the_keys_asked_that_differ():
    from segstudio.base.config import OPTIMISER_SETTINGS, changed_settings

    run, form = Config(), Config()
    form.train.lr, form.train.momentum, form.train.epochs = run.train.lr * 10, run.train.momentum, run.train.epochs + 3
    assert changed_settings(run, form, OPTIMISER_SETTINGS) == {"train.lr": run.train.lr * 10}
    assert changed_settings(run, form, ["train.momentum"]) == {}

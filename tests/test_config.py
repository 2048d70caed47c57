import pytest

from condgan.config import Config, from_dict, load_config, parse_override
from condgan.errors import ConfigError


def test_defaults_round_trip_through_dict():
    config = Config()
    assert from_dict(config.to_dict()) == config


def test_override_parses_yaml_values_and_scientific_notation():
    assert parse_override("train.lr=1e-4") == {"train": {"lr": 1e-4}}
    assert parse_override("model.spectral_norm=true") == {"model": {"spectral_norm": True}}
    config = load_config(overrides=["train.lr=1e-4", "train.steps=10", "data.name=digits"])
    assert config.train.lr == 1e-4 and config.train.steps == 10 and config.data.name == "digits"


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("train:\n  lr: 3e-4\n  steps: 5\nmodel:\n  generator: mlp\n")
    config = load_config(path, ["train.steps=7"])
    assert (config.train.lr, config.train.steps, config.model.generator) == (3e-4, 7, "mlp")


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key 'train.lrr'.*valid keys in train: .*batch_size.*lr"):
        load_config(overrides=["train.lrr=1"])
    with pytest.raises(ConfigError, match="unknown config key 'bogus'"):
        from_dict({"bogus": {}})


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.steps=ten", "must be a whole number"),
        ("train.steps=1.5", "must be a whole number"),
        ("train.lr=fast", "must be a number"),
        ("model.spectral_norm=3", "must be true or false"),
        ("train=3", "must be a mapping"),
        ("nokey", "is not key=value"),
    ],
)
def test_bad_values_are_one_line_errors(override, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_config(overrides=[override])
    assert "\n" not in str(info.value)


def test_bad_yaml_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))
    assert configs, "configs/ should ship recipes"
    for path in configs:
        load_config(path)

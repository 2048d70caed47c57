import dataclasses
import subprocess
import sys
from pathlib import Path

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


# --- every key's allowed values, checked when the config is built ----------------------------------------------

BAD_VALUES = {  # one value each key refuses, and the words of what it allows
    "task": ("cycle", "one of cgan, pix2pix"),
    "data.name": ("nope", "one of fashion-mnist, mnist, kmnist, digits, cifar10, folder:PATH, aligned:DIR"),
    "data.image_size": (-1, ">= 0"),
    "data.channels": (-3, ">= 0"),
    "data.download": (3, "true or false"),
    "data.fallback": ("imagenet", "one of fashion-mnist"),
    "data.class_names": (["a", "a"], "distinct, non-empty names"),
    "data.direction": ("AtoC", "one of AtoB, BtoA"),
    "data.source_channels": (-1, ">= 0"),
    "data.load_size": (-286, ">= 0"),
    "data.flip": ("sideways", "true or false"),
    "data.source_background": ("grey", "one of '', white, black"),
    "data.stroke_augment": (1.5, "in [0, 1]"),
    "model.generator": ("gpt", "one of mlp, dcgan, unet, resnet"),
    "model.discriminator": ("bert", "one of mlp, dcgan, patchgan, pixel"),
    "model.conditioning": ("film", "one of concat, projection, acgan, contrastive"),
    "model.num_classes": (-2, ">= -1"),
    "model.z_dim": (0, ">= 1"),
    "model.g_width": (0, ">= 1"),
    "model.d_width": (-8, ">= 1"),
    "model.conditional_bn": (2, "true or false"),
    "model.spectral_norm": (3, "true or false"),
    "model.dropout": (1.0, "in [0, 1)"),
    "model.minibatch_std": (1, "0 (off) or >= 2"),
    "model.norm": ("group", "one of batch, instance, none"),
    "model.unet_downs": (1, "0 (from the image size) or >= 2"),
    "model.resnet_blocks": (-2, ">= -1"),
    "model.n_layers": (0, ">= 1"),
    "model.g_dropout": ("yes please", "true or false"),
    "loss.kind": ("l3", "one of bce, lsgan, hinge, wgan-gp"),
    "loss.r1_gamma": (-1, ">= 0"),
    "loss.gp_weight": (-10, ">= 0"),
    "loss.aux_weight": (-1, ">= 0"),
    "loss.aux_on_fake": (2, "true or false"),
    "loss.mode_seeking": (-0.1, ">= 0"),
    "loss.augment": ("translation,flip", "'' (off) or a comma list of translation, cutout, brightness, contrast"),
    "loss.l1_weight": (-100, ">= 0"),
    "loss.gan_weight": (-1, ">= 0"),
    "loss.mismatch_weight": (-0.5, ">= 0"),
    "loss.cycle_weight": (-10, ">= 0"),
    "loss.identity_weight": (-0.5, ">= 0"),
    "loss.pool_size": (-1, ">= 0"),
    "train.steps": (-3, ">= 0"),
    "train.epochs": (-1, ">= 0"),
    "train.time_budget": (-60, ">= 0"),
    "train.batch_size": (0, ">= 1"),
    "train.lr": (-1, "> 0"),
    "train.d_lr": (-1e-4, ">= 0"),
    "train.beta1": (1.0, "in [0, 1)"),
    "train.beta2": (-0.1, "in [0, 1)"),
    "train.d_steps": (0, ">= 1"),
    "train.ema_decay": (1.5, "in [0, 1)"),
    "train.ema_every": (0, ">= 1"),
    "train.seed": (-1, "in [0, 4294967295]"),
    "train.device": ("gpu", "auto, cpu, cuda or cuda:N"),
    "train.threads": (-2, ">= 0"),
    "train.log_every": (0, ">= 1"),
    "train.sample_every": (-500, ">= 0"),
    "train.checkpoint_every": (-1, ">= 0"),
    "train.keep_checkpoints": (0, ">= 1"),
    "train.eval_every": (-1, ">= 0"),
    "train.eval_samples": (0, ">= 1"),
    "train.keep_best": ("psnr", "one of '', fid, accuracy"),
    "train.lr_decay": ("cosine", "one of none, linear"),
    "train.lr_decay_start": (1.0, "in [0, 1)"),
    "train.precision": ("fp8", "one of auto, fp32, bf16, fp16"),
    "train.channels_last": (5, "true or false"),
    "train.compile": ("maybe", "true or false"),
    "train.sync_batchnorm": (7, "true or false"),
    "train.dist_timeout": (0, "> 0"),
    "train.skip_nonfinite": (-1, ">= 0"),
}


def _all_keys() -> dict[str, tuple[dataclasses.Field, object]]:
    """'section.key' (or 'task') -> (its field, its default)."""
    keys, defaults = {}, Config()
    for spec in dataclasses.fields(Config):
        section = getattr(defaults, spec.name)
        if dataclasses.is_dataclass(section):
            keys.update({f"{spec.name}.{f.name}": (f, getattr(section, f.name)) for f in dataclasses.fields(section)})
        else:
            keys[spec.name] = (spec, section)
    return keys


def _nested(key: str, value) -> dict:
    section, _, name = key.rpartition(".")
    return {section: {name: value}} if section else {name: value}


def test_every_key_has_a_check_and_its_default_passes():
    keys = _all_keys()
    unchecked = [key for key, (spec, _) in keys.items() if "check" not in spec.metadata]
    assert not unchecked, f"give these keys a check (config._key(default, check)): {unchecked}"
    for key, (spec, default) in keys.items():
        assert spec.metadata["check"](default) is None, key


def test_every_key_has_a_bad_value_here():
    assert not set(_all_keys()) - set(BAD_VALUES), "add a bad value for each new key to BAD_VALUES"


@pytest.mark.parametrize("key", sorted(BAD_VALUES))
def test_a_bad_value_is_a_one_line_error_naming_key_value_and_what_is_allowed(key):
    if key not in _all_keys():
        pytest.skip(f"{key} is not a config key in this checkout")
    value, allowed = BAD_VALUES[key]
    with pytest.raises(ConfigError) as info:
        from_dict(_nested(key, value))
    message = str(info.value)
    assert message.startswith(f"{key} must be ") and allowed in message and repr(value).strip("[]") in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "override",
    ["train.lr=2e-4", "train.beta1=0", "train.ema_decay=0", "model.num_classes=-1", "model.num_classes=0",
     "data.name=folder:/some/images", "data.name=aligned:data/fm-edges32", "data.name=pairs:x", "data.fallback=",
     "data.name=unaligned:data/sneaker2boot", "model.resnet_blocks=-1", "task=cyclegan",
     "train.device=cuda:1", "train.keep_best=", "model.unet_downs=0", "model.dropout=0.4", "train.seed=4294967295"],
)  # fmt: skip
def test_edge_values_that_are_allowed(override):
    load_config(overrides=[override])


def test_registry_keys_list_every_registered_name():
    from condgan.losses import LOSSES
    from condgan.models import DISCRIMINATORS, GENERATORS
    from condgan.models.pix2pix import PAIR_DISCRIMINATORS, TRANSLATION_GENERATORS
    from condgan.tasks import TASKS

    for key, names in [("model.generator", [*GENERATORS, *TRANSLATION_GENERATORS]),
                       ("model.discriminator", [*DISCRIMINATORS, *PAIR_DISCRIMINATORS]),
                       ("loss.kind", list(LOSSES)), ("task", list(TASKS))]:  # fmt: skip
        with pytest.raises(ConfigError, match=f"one of {', '.join(names)}, got 'nope'"):
            from_dict(_nested(key, "nope"))
        for name in names:
            from_dict(_nested(key, name))


def test_config_imports_no_registry_at_import_time():
    """The registries import config; config reaches them only when a value is checked (no import circle)."""
    code = "import sys, condgan.config; print(sorted(m for m in sys.modules if m.startswith(('torch', 'condgan.'))))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['condgan.config', 'condgan.errors']"


def test_shipped_pretrained_configs_load():
    from condgan.config import load_json

    found = sorted((Path(__file__).parents[1] / "src" / "condgan" / "pretrained_models").glob("*/config.json"))
    assert len(found) >= 3
    for path in found:
        load_json(path)

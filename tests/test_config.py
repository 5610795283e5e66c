from pathlib import Path

import pytest

from medforget.config import PRESETS, BuildConfig, preset
from medforget.errors import ConfigError, UnknownNameError
from medforget.registry import Registry


def test_presets_exist_and_are_ordered_by_size():
    assert set(PRESETS) == {"tiny", "default", "full"}
    assert preset("tiny").n_patients < preset("default").n_patients
    assert preset("full").n_patients is None


def test_unknown_key_names_it_and_suggests():
    with pytest.raises(ConfigError, match=r"unknown config key 'n_patient'.*did you mean 'n_patients'"):
        BuildConfig.from_mapping({"n_patient": 3})


def test_unknown_preset_suggests():
    with pytest.raises(UnknownNameError, match="did you mean 'tiny'"):
        preset("tinny")


def test_invalid_values_are_refused():
    with pytest.raises(ConfigError, match="min_studies"):
        BuildConfig(min_studies=1)
    with pytest.raises(ConfigError, match="n_networks"):
        BuildConfig(n_networks=1)


def test_yaml_preset_plus_overrides(tmp_path: Path):
    path = tmp_path / "build.yaml"
    path.write_text("preset: tiny\nseed: 7\nimages_dir: /data/png\n")
    config = BuildConfig.from_yaml(path)
    assert (config.preset, config.seed, config.images_dir) == ("tiny", 7, Path("/data/png"))
    assert config.to_record()["images_dir"] == "<user supplied>"
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        BuildConfig.from_yaml(path)


def test_registry_refuses_duplicates_and_suggests():
    registry: Registry[int] = Registry("metric")
    registry.register("rouge_l")(1)
    with pytest.raises(Exception, match="registered twice"):
        registry.register("rouge_l")(2)
    with pytest.raises(UnknownNameError, match="did you mean 'rouge_l'"):
        registry.get("rouge")
    assert registry.names() == ["rouge_l"]

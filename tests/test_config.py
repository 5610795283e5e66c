from pathlib import Path

import pytest

from medforget.cli import main
from medforget.config import PRESETS, BuildConfig, LLMConfig, preset
from medforget.errors import ConfigError, UnknownNameError
from medforget.llm.client import Endpoint


def test_presets_exist_and_are_ordered_by_size():
    assert list(PRESETS) == ["tiny", "default", "full", "base"]  # the benchmark's by size, then the base corpus
    assert preset("tiny").n_patients < preset("default").n_patients
    assert preset("full").n_patients is None
    assert preset("base").seed != preset("tiny").seed  # other groupings, other identities


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
    path.write_text("preset: tiny\nseed: 7\nsource_options: {images_dir: /data/png}\n")
    config = BuildConfig.from_yaml(path)
    assert (config.preset, config.seed, config.source_options) == ("tiny", 7, {"images_dir": "/data/png"})
    assert config.to_record()["source_options"] == {"images_dir": "<user supplied>"}
    path.write_text("- not a mapping\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        BuildConfig.from_yaml(path)


def test_llm_settings_from_yaml_are_checked_and_reduced_in_the_record(tmp_path: Path):
    path = tmp_path / "build.yaml"
    path.write_text(
        "preset: tiny\nllm:\n  base_url: http://127.0.0.1:8008/v1\n  model: smollm2-135m-instruct\n"
        "  tasks: [rephrase, distractors]\n  fallback: true\n  cache_dir: /tmp/llm-cache\n"
    )
    config = BuildConfig.from_yaml(path)
    assert config.llm == LLMConfig(
        Endpoint("http://127.0.0.1:8008/v1", "smollm2-135m-instruct", cache_dir=Path("/tmp/llm-cache")),
        tasks=("rephrase", "distractors"),
        fallback=True,
    )
    record = config.to_record()["llm"]
    assert (record["base_url"], record["cache_dir"], record["tasks"]) == (
        "<user supplied>",
        "<user supplied>",
        ["rephrase", "distractors"],
    )
    assert preset("tiny").to_record()["llm"] is None


def test_llm_settings_refuse_unknown_keys_tasks_and_missing_fields():
    with pytest.raises(ConfigError, match=r"unknown llm config key 'modle'.*did you mean 'model'"):
        BuildConfig.from_mapping({"llm": {"base_url": "http://x/v1", "modle": "m"}})
    with pytest.raises(ConfigError, match=r"unknown LLM task 'rephrasing'.*did you mean 'rephrase'"):
        LLMConfig.from_mapping({"base_url": "http://x/v1", "model": "m", "tasks": "rephrasing"})
    with pytest.raises(ConfigError, match="LLM QA needs model"):
        LLMConfig.from_mapping({"base_url": "http://x/v1"})
    with pytest.raises(ConfigError, match="llm must be a mapping"):
        BuildConfig.from_mapping({"llm": "http://x/v1"})
    with pytest.raises(ConfigError, match="response_format"):
        LLMConfig(Endpoint("http://x/v1", "m"), response_format="xml")
    with pytest.raises(ConfigError, match="concurrency"):
        LLMConfig.from_mapping({"base_url": "http://x/v1", "model": "m", "concurrency": 0})


def test_build_flags_without_a_model_are_refused_before_anything_runs(tmp_path: Path, capsys):
    assert main(["build", "--preset", "tiny", "--out", str(tmp_path / "out"), "--llm-base-url", "http://x/v1"]) == 2
    assert "LLM QA needs model (--llm-base-url URL --llm-model NAME" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


#: a value of the wrong type for every setting of a build config
WRONG = {
    "preset": 3,
    "seed": "0",
    "source": ["iu-xray"],
    "n_networks": 2.5,
    "n_institutions": "5",
    "n_patients": [],
    "n_holdout_patients": True,
    "min_studies": None,
    "max_studies": "4",
    "targets_per_level": ["patient"],
    "rephrase_facts_per_level": {},
    "n_rephrasings": "2",
    "n_utility_images": 1.5,
    "image_size": "256",
    "max_rows_per_shard": False,
    "source_options": ["images_dir"],
    "llm": 3,
}


def test_every_setting_is_covered():
    import dataclasses

    assert set(WRONG) == {f.name for f in dataclasses.fields(BuildConfig)}


@pytest.mark.parametrize("key", sorted(WRONG))
def test_a_wrong_type_in_any_setting_is_a_config_error_naming_it(key: str, tmp_path: Path, capsys):
    values = {"preset": "tiny", key: WRONG[key]} if key != "preset" else {"preset": WRONG[key]}
    with pytest.raises(ConfigError, match=rf"\b{key}\b"):
        BuildConfig.from_mapping(values)
    config = tmp_path / "build.yaml"
    import yaml

    config.write_text(yaml.safe_dump(values))
    assert main(["build", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "medforget: error:" in err and "Traceback" not in err and not (tmp_path / "out").exists()


def test_an_alias_bomb_is_refused_at_the_first_alias(tmp_path: Path):
    lines = ["preset: tiny", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]  # 10^9 x's once expanded
    lines += ["llm: {base_url: 'http://127.0.0.1:1/v1', model: *a8}"]
    config = tmp_path / "bomb.yaml"
    config.write_text("\n".join(lines) + "\n")
    assert config.stat().st_size < 1024
    with pytest.raises(ConfigError, match=r"line 3: YAML aliases \(\*a0\) are not allowed"):
        BuildConfig.from_yaml(config)


def test_a_config_that_is_not_utf8_is_a_config_error(tmp_path: Path):
    config = tmp_path / "build.yaml"
    config.write_bytes(b"preset: tiny\nsource: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        BuildConfig.from_yaml(config)

"""LLM QA against an in-process OpenAI-compatible server (the real client, over HTTP): a build with
every task that passes the leak checks and is rebuilt from the cache with no request; a reply that
changes the fact, one that pastes a forget node's name, one that is fixed on retry; fallback to
templates recorded in provenance; an endpoint that stays down."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from medforget.build.pipeline import Prepared, build, prepare
from medforget.cli import main
from medforget.config import BuildConfig, LLMConfig
from medforget.llm.client import LLMRequestError
from medforget.llm.replies import LLMOutputError
from tests.fake_openai import serve
from tests.qa.scribe import scribe

ALL_TASKS = "rephrase,wording,distractors,cloze,grounded,truth"


@pytest.fixture
def template(small_config: BuildConfig) -> Prepared:
    return prepare(small_config)


def with_llm(config: BuildConfig, url: str, tmp_path: Path, **settings) -> BuildConfig:
    return dataclasses.replace(
        config,
        llm=LLMConfig.from_mapping({"base_url": url, "model": "scribe", "cache_dir": tmp_path / "cache", **settings}),
    )


def test_build_with_every_task_validates_and_a_rebuild_sends_no_request(small_config, template, tmp_path, capsys):
    config = tmp_path / "build.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "preset": "tiny",
                "source_options": {"reports_archive": str(small_config.source_options["reports_archive"])},
                "n_utility_images": 4,
                "targets_per_level": dict(small_config.targets_per_level),
            }
        )
    )
    with serve(scribe()) as server:
        assert (
            main(
                [
                    "build",
                    "--config",
                    str(config),
                    "--out",
                    str(tmp_path / "out"),
                    "--llm-base-url",
                    server.url,
                    "--llm-model",
                    "scribe",
                    "--llm-tasks",
                    ALL_TASKS,
                    "--llm-cache-dir",
                    str(tmp_path / "cache"),
                ]
            )
            == 0
        )  # the leak checks passed
        sent = len(server.seen)
        rebuilt = prepare(with_llm(small_config, server.url, tmp_path, tasks=tuple(ALL_TASKS.split(","))))
        assert len(server.seen) == sent  # the rebuild sent nothing
    llm = json.loads((tmp_path / "out" / "manifest.json").read_text())["llm"]
    assert llm["requests"] == sent and llm["fallbacks"]["count"] == 0 and llm["invalid_replies"] == 0
    assert set(llm["calls"]) == {"rephrase", "distractors", "cloze", "grounded", "truth"} and llm["model"] == "scribe"
    assert rebuilt.llm["requests"] == 0 and rebuilt.llm["cache_hits"] == llm["requests"] + llm["cache_hits"]
    assert llm["retries"] == 0  # else the rebuild has fewer hits than the build had requests
    assert "LLM scribe" in capsys.readouterr().out

    rows = {r["id"]: r for r in pq.read_table(tmp_path / "out" / "train" / "train-00000-of-00001.parquet").to_pylist()}
    assert {item.id: item.question for item in rebuilt.items if item.id in rows} == {
        i: row["question"] for i, row in rows.items()
    }
    trained = {item.id: item for item in template.items if item.level is not None and item.id in rows}
    extra = {rows[i]["task"] for i in set(rows) - set(trained)}
    assert extra <= {"classification"}  # LLM distractors give classifications the templates had to skip
    for item_id, item in trained.items():
        row, provenance = rows[item_id], rows[item_id]["provenance"]
        assert row["question"] != item.question and provenance["generator"] == "llm"
        if item.task == "generation":
            assert row["answer"] == item.answer  # the fact never changes
        assert provenance["model"] == "scribe" and provenance["temperature"] == 0.0
        assert provenance["template_id"] == item.provenance.template_id
        assert len(provenance["prompt_version"].split("+")) == len(provenance["cache_key"].split("+"))
        assert all(re.fullmatch(r"[0-9a-f]{64}", key) for key in provenance["cache_key"].split("+"))
        if item.task == "generation":  # TOFU's inputs written by the LLM, checked
            assert row["paraphrased_answer"] == f"It reads {item.answer}, in other words."
            assert len(row["perturbed_answers"]) == 3 and all("Decoy" in p for p in row["perturbed_answers"])
            assert provenance["prompt_version"].startswith("truth@1.0.0")
    classification = next(item for item in trained.values() if item.task == "classification")
    assert "Decoy 0" in rows[classification.id]["question"]
    assert rows[classification.id]["provenance"]["prompt_version"] == "distractors@1.0.0+rephrase@1.0.0"


def test_a_reply_that_changes_the_fact_fails_the_build_listing_the_items(small_config, tmp_path):
    def wrong_answer(prompt, data):
        return {"rephrasings": [{**pair, "answer": "something else"} for pair in data["rephrasings"]]}

    with serve(scribe(wrong_answer)) as server, pytest.raises(LLMOutputError) as raised:
        build(with_llm(small_config, server.url, tmp_path), tmp_path / "out")
    message = str(raised.value)
    assert re.search(r"(\d+) of \1 rephrase replies from scribe stayed invalid after 3 attempts", message)
    assert "qa-" in message and "it must stay" in message and "--llm-fallback" in message
    assert not (tmp_path / "out").exists()


def test_fallback_keeps_the_template_wording_and_says_so(small_config, template, tmp_path):
    def wrong_answer(prompt, data):
        return {"rephrasings": [{**pair, "answer": "something else"} for pair in data["rephrasings"]]}

    with serve(scribe(wrong_answer)) as server:
        prepared = prepare(with_llm(small_config, server.url, tmp_path, fallback=True, max_attempts=2))
    before = {item.id: item for item in template.items}
    rephrased = [item for item in prepared.items if item.rephrased_of is not None]
    assert rephrased and all(item.question == before[item.id].question for item in rephrased)
    assert {(i.provenance.generator, i.provenance.cache_key, i.provenance.prompt_version) for i in rephrased} == {
        ("llm-fallback", "fallback", "rephrase@1.0.0")
    }
    assert all(item.provenance.generator == "template" for item in prepared.items if item.rephrased_of is None)
    record = prepared.llm
    assert record["fallbacks"]["count"] == record["calls"]["rephrase"]
    assert record["rows"]["llm-fallback"] == len(rephrased)
    assert record["invalid_replies"] == 2 * record["calls"]["rephrase"]


def test_a_wrong_answer_that_is_the_answer_falls_back_to_the_rules(small_config, template, tmp_path):
    def lazy(prompt, data):
        return {**data, "perturbed": [data["paraphrased"], *data["perturbed"][1:]]} if prompt == "truth" else data

    with serve(scribe(lazy)) as server:
        with pytest.raises(LLMOutputError, match="is the correct one"):
            prepare(with_llm(small_config, server.url, tmp_path, tasks=("truth",)))
        fallen = prepare(with_llm(small_config, server.url, tmp_path, tasks=("truth",), fallback=True))
    rules = {item.id: item for item in template.items}
    generation = [item for item in fallen.items if item.task == "generation" and item.level is not None]
    assert generation and all(item.perturbed_answers == rules[item.id].perturbed_answers for item in generation)
    assert all(item.provenance.generator == "llm-fallback" for item in generation)


def test_a_pasted_forget_name_never_reaches_another_row(small_config, template, tmp_path):
    target = template.plan.targets["patient"][0]
    name = template.hierarchy.nodes[target].attribute("name")

    def paste(prompt, data):
        return {
            "rephrasings": [
                {**pair, "question": f"{pair['question']} (see also {name})"} for pair in data["rephrasings"]
            ]
        }

    with serve(scribe(paste)) as server:
        with pytest.raises(LLMOutputError, match=f"mentions '{name.lower()}', which is not part of this fact"):
            prepare(with_llm(small_config, server.url, tmp_path))
        # the build runs the leak checks: they pass
        result = build(with_llm(small_config, server.url, tmp_path, fallback=True), tmp_path / "out")
    assert result.manifest.llm["fallbacks"]["count"] > 0
    rows = pq.read_table(tmp_path / "out" / "patient" / "retain_rephrased-00000-of-00001.parquet").to_pylist()
    assert rows and not any(name in row["question"] for row in rows)


def test_a_rejected_reply_is_fixed_on_retry(small_config, tmp_path):
    def forgetful(body: dict):
        status, text = scribe()(body)
        if len(body["messages"]) > 4:  # the retry turn: now right
            return status, text
        data = json.loads(text)
        if "rephrasings" in data:  # first try: drops what identifies the entity in text questions
            data["rephrasings"] = [{**pair, "question": "Tell me about it."} for pair in data["rephrasings"]]
        return status, json.dumps(data)

    with serve(forgetful) as server:
        prepared = prepare(with_llm(small_config, server.url, tmp_path))
    retried = [body["messages"][-1]["content"] for body in server.seen if len(body["messages"]) > 4]
    assert retried and all(text.startswith("That reply is not valid: ") for text in retried)
    assert any("drops" in text for text in retried) and any("repeats" in text for text in retried)
    assert prepared.llm["invalid_replies"] == prepared.llm["calls"]["rephrase"]  # every first reply, none after
    assert prepared.llm["fallbacks"]["count"] == 0
    assert all(item.provenance.generator == "llm" for item in prepared.items if item.rephrased_of is not None)


def test_an_endpoint_that_stays_down_fails_the_build_even_with_fallback(small_config, tmp_path):
    with serve(lambda body: (503, "overloaded")) as server, pytest.raises(LLMRequestError, match="a rerun resumes"):
        prepare(with_llm(small_config, server.url, tmp_path, fallback=True, max_retries=0))


def test_send_images_attaches_the_rows_study_image_to_image_questions(small_config, tmp_path):
    import base64

    with serve(scribe()) as server:
        prepared = prepare(with_llm(small_config, server.url, tmp_path, send_images=True))
    pngs = {image.png for image in prepared.images}
    sent = [body["messages"][3]["content"] for body in server.seen]
    with_image = [content for content in sent if isinstance(content, list)]
    assert with_image and len(with_image) < len(sent)  # image questions only
    for content in with_image:
        assert base64.b64decode(content[0]["image_url"]["url"].removeprefix("data:image/png;base64,")) in pngs
        assert "this chest X-ray or this radiograph" in content[1]["text"]

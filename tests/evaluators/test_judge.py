"""The LLM judge against an in-process OpenAI-compatible server, and its place in `medforget eval`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget.cli import main
from medforget.evaluators.judge import JUDGE_PROMPT_VERSION, RUBRIC, EndpointJudge, medforget_score, parse_score
from tests.evaluators.test_run import write_predictions
from tests.fake_openai import serve


def grader(body: dict) -> tuple[int, str]:
    """10 when the model answer equals the reference, 3 when it is 'partly', garbage for 'junk', 500 for 'down'."""
    user = body["messages"][1]["content"]
    reference = user.split("Reference answer: ")[1].split("\n")[0]
    answer = user.split("Model answer: ")[1]
    if answer == "down":
        return 500, "server error"
    if answer == "junk":
        return 200, "I think it deserves a seven"
    return 200, json.dumps({"score": 10 if answer == reference else 3})


def test_parse_score_accepts_only_an_integer_from_1_to_10():
    assert parse_score('{"score": 7}') == 7.0 and parse_score('```json\n{"score": 1}\n```') == 1.0
    for reply in ('{"score": 0}', '{"score": 11}', '{"score": 7.5}', '{"score": true}', "seven", '{"grade": 7}'):
        assert parse_score(reply) is None, reply
    assert medforget_score(1.0, 10.0) == 1.0 and medforget_score(0.0, 1.0) == pytest.approx(0.075)


def test_the_judge_scores_answer_pairs_and_counts_failures():
    rows = [
        {"id": str(i), "question": "What does the impression say?", "answer": "No acute disease."} for i in range(4)
    ]
    predictions = {"0": "No acute disease.", "1": "Mild cardiomegaly.", "2": "junk", "3": "down"}
    with serve(grader) as server:
        scores = EndpointJudge(server.url, "judge-llm", concurrency=2).judge(rows, predictions)
    assert scores == [10.0, 3.0, None, None]
    first = next(body for body in server.seen if "Model answer: No acute disease." in body["messages"][1]["content"])
    assert first["temperature"] == 0 and first["messages"][0]["content"] == RUBRIC
    assert first["response_format"] == {"type": "json_object"}


def test_eval_reports_factuality_and_the_combined_score(tiny_build: Path, tmp_path: Path):
    predictions = write_predictions(
        tmp_path / "p.jsonl", tiny_build, "patient", lambda row, split: "junk" if split == "holdout" else row["answer"]
    )
    with serve(grader) as server:
        assert (
            main(
                [
                    "eval",
                    "--predictions",
                    str(predictions),
                    "--dataset",
                    str(tiny_build),
                    "--level",
                    "patient",
                    "--out",
                    str(tmp_path / "run"),
                    "--judge-endpoint",
                    server.url,
                    "--judge-model",
                    "judge",
                ]
            )
            == 0
        )
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["judge"] == {"name": f"judge@{server.url}", "version": JUDGE_PROMPT_VERSION}
    factuality = {m["split"]: m for m in results["metrics"] if m["name"] == "llm_factuality"}
    assert factuality["forget"]["value"] == 1.0 and factuality["forget"]["failed"] == 0
    assert factuality["holdout"]["value"] is None and factuality["holdout"]["failed"] > 0  # failures are not zeros
    combined = {m["split"]: m["value"] for m in results["metrics"] if m["name"] == "medforget_score"}
    assert combined["retain_sibling"] == 1.0
    records = [json.loads(line) for line in (tmp_path / "run" / "predictions.jsonl").read_text().splitlines()]
    assert {r["judge_factuality"] for r in records if r["task"] == "generation" and r["split"] == "forget"} == {10.0}


def test_judgements_are_cached_and_a_429_is_waited_out(tmp_path: Path):
    rows = [{"id": str(i), "question": "Which organ is enlarged?", "answer": "The heart."} for i in range(2)]
    predictions = {"0": "The heart.", "1": "The liver."}
    refused = []

    def rate_limited(body: dict):
        if not refused:
            refused.append(body)
            return 429, "slow down", {"Retry-After": "0"}
        return grader(body)

    with serve(rate_limited) as server:
        judge = EndpointJudge(server.url, "judge-llm", cache_dir=tmp_path)
        first = judge.judge(rows, predictions)
        again = EndpointJudge(server.url, "judge-llm", cache_dir=tmp_path)
        assert again.judge(rows, predictions) == first == [10.0, 3.0]
    assert len(server.seen) == 3 and judge.client.stats.retries == 1  # the 429, then one request per pair
    assert again.client.stats.requests == 0 and again.client.stats.cache_hits == 2

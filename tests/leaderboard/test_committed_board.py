"""The board in the repository is what `make leaderboard` wrote: its page, its Markdown and the
README's copy render from its board.json, every number is the builder's, and it holds every
method at every level of the tiny track. Its numbers are not expected to reproduce bit for bit
on another CPU kind: a rebuilt board is compared with it within the reproducibility tolerance."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from medforget.cli import main
from medforget.leaderboard.build import compare, load_schema, markdown, overall, render_html
from medforget.reproducibility import SCORE_TOLERANCE
from medforget.unlearning import METHODS as REGISTERED

BOARD = Path(__file__).parents[2] / "leaderboard"
#: the reference rows and every registered method (a new one needs `make leaderboard` to be on it)
METHODS = ("target", "retain", *REGISTERED.names())
LEVELS = ("institution", "patient", "study", "section")  # the tiny preset's target levels


def committed() -> dict:
    return json.loads((BOARD / "board.json").read_text(encoding="utf-8"))


def test_the_committed_board_holds_every_method_at_every_level():
    data = committed()
    rows, summary = data["rows"], data["summary"]
    assert sorted((e["method"], e["level"]) for e in summary) == sorted((m, lv) for m in METHODS for lv in LEVELS)
    (seeds,) = {len(e["seeds"]) for e in summary}  # every method at every level over the same seeds
    expected = sorted((m, lv) for m in METHODS for lv in LEVELS for _ in range(seeds))
    assert sorted((r["method"], r["level"]) for r in rows) == expected
    assert {r["track"] for r in rows} == {"tiny"}
    assert {r["method"]: r["role"] for r in rows if r["method"] in ("target", "retain")} == {
        "target": "target",
        "retain": "retain",
    }
    assert all(r["disagreements"] == 0 for r in rows)  # the claimed numbers are the recomputed ones


def test_nothing_on_the_committed_board_is_typed_by_hand():
    data = committed()
    assert data["schema"] == load_schema(BOARD)
    assert all(r["overall"] == overall(r["values"], data["schema"]) for r in data["rows"])
    assert (BOARD / "index.html").read_text(encoding="utf-8") == render_html(data)
    table = "\n".join(markdown(data)) + "\n"
    assert (BOARD / "board.md").read_text(encoding="utf-8") == table
    assert table in (BOARD.parent / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in (BOARD / "plots").iterdir()) == sorted(f"tiny-{lv}.png" for lv in LEVELS)


def test_a_rebuilt_board_is_held_to_the_reproducibility_tolerance_not_to_its_bits(tmp_path, capsys):
    """`make leaderboard` on another CPU kind gives other low bits; only a move beyond the
    stated tolerance, or a row gained or lost, is a difference."""
    rebuilt = copy.deepcopy(committed())
    for row in rebuilt["rows"]:
        row["values"] = {k: v if v is None else v + 0.9 * SCORE_TOLERANCE for k, v in row["values"].items()}
    assert compare(committed(), rebuilt) == []
    index = next(i for i, r in enumerate(rebuilt["rows"]) if r["values"]["sibling_damage"] is not None)
    moved = rebuilt["rows"][index]
    moved["values"]["sibling_damage"] += 0.2 * SCORE_TOLERANCE
    gone = rebuilt["rows"].pop()
    was = committed()["rows"][index]["values"]["sibling_damage"]
    assert compare(committed(), rebuilt) == [
        f"{gone['track']}/{gone['level']}/{gone['submission']}: only in the reference board",
        f"{moved['track']}/{moved['level']}/{moved['submission']} sibling_damage: "
        f"{was} != {moved['values']['sibling_damage']}",
    ]
    (tmp_path / "built.json").write_text(json.dumps(rebuilt))
    assert main(["leaderboard", "compare", str(tmp_path / "built.json"), str(BOARD / "board.json")]) == 1
    assert "only in the reference board" in capsys.readouterr().out
    assert main(["leaderboard", "compare", str(BOARD / "board.json"), str(BOARD / "board.json")]) == 0
    (tmp_path / "bad.json").write_text("[]")
    assert main(["leaderboard", "compare", str(tmp_path / "bad.json"), str(BOARD / "board.json")]) == 2

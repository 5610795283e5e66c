"""The board in the repository is what `make leaderboard` wrote: its page, its Markdown and the
README's copy render from its board.json, every number is the builder's, and it holds every
method at every level of the tiny track."""

from __future__ import annotations

import json
from pathlib import Path

from medforget.leaderboard.build import load_schema, markdown, overall, render_html

BOARD = Path(__file__).parents[2] / "leaderboard"
METHODS = ("target", "retain", "ga", "gd", "kl", "npo", "prune", "chip")
LEVELS = ("institution", "patient", "study", "section")  # the tiny preset's target levels


def committed() -> dict:
    return json.loads((BOARD / "board.json").read_text(encoding="utf-8"))


def test_the_committed_board_holds_every_method_at_every_level():
    rows = committed()["rows"]
    assert sorted((r["method"], r["level"]) for r in rows) == sorted((m, lv) for m in METHODS for lv in LEVELS)
    assert {r["track"] for r in rows} == {"tiny"}
    assert {r["method"]: r["role"] for r in rows if r["method"] in ("target", "retain")} == {"target": "target",
                                                                                          "retain": "retain"}
    assert all(r["disagreements"] == 0 for r in rows)  # the claimed numbers are the recomputed ones


def test_nothing_on_the_committed_board_is_typed_by_hand():
    data = committed()
    assert data["schema"] == load_schema(BOARD)
    assert all(r["overall"] == overall(r["values"]) for r in data["rows"])
    assert (BOARD / "index.html").read_text(encoding="utf-8") == render_html(data)
    table = "\n".join(markdown(data)) + "\n"
    assert (BOARD / "board.md").read_text(encoding="utf-8") == table
    assert table in (BOARD.parent / "README.md").read_text(encoding="utf-8")
    assert sorted(p.name for p in (BOARD / "plots").iterdir()) == sorted(f"tiny-{lv}.png" for lv in LEVELS)

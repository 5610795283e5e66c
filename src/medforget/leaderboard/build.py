"""``medforget leaderboard build``: every submission under ``leaderboard/submissions/`` checked
and re-scored, then ``board.json``, ``index.html`` (static, self-contained), ``board.md`` and
one plot per track and level. The columns, their descriptions and directions, and the overall
score come from ``leaderboard/metrics.json``; each track's reference submissions (the target
and the retain model every row is measured against) from ``leaderboard/tracks.json``, never
from a submission's own claim. A submission that fails its check is left off and reported,
with the reason, in ``board.json`` and on the page; the others are still built."""

from __future__ import annotations

import html
import json
import logging
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from medforget.leaderboard.check import Checked, check, read_manifest, unpack
from medforget.leaderboard.submission import ARCHIVES, ROLES, SubmissionError
from medforget.reproducibility import SCORE_TOLERANCE, disagreements

logger = logging.getLogger(__name__)

BOARD_VERSION = "2.0.0"


def load_schema(board: Path) -> dict[str, Any]:
    path = board / "metrics.json"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        columns = [schema["overall"], *schema["columns"]]
        wrong = [
            c.get("name")
            for c in columns
            if c.get("direction") not in BETTER
            or not all(isinstance(c.get(key), str) and c[key] for key in ("name", "display", "description"))
            or not isinstance(c.get("split", ""), (str, type(None)))
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise SubmissionError(
            f"{path} is missing or not a board schema ({err!r}); it defines the board's columns, "
            "an 'overall' entry and a 'columns' list"
        ) from err
    if wrong:
        raise SubmissionError(
            f"{path}: columns {wrong} need a name, a display name, a description, a split (or "
            f"null) and a direction among {', '.join(BETTER)}"
        )
    scored = {column_key(c): c["direction"] for c in schema["columns"] if c["direction"] in ("higher", "lower", "zero")}
    terms = schema["overall"].get("of")
    absent = schema["overall"].get("perfect_when_absent", [])
    if not (
        isinstance(terms, list)
        and terms
        and all(t in scored for t in terms)
        and isinstance(absent, list)
        and set(absent) <= set(terms)
    ):
        raise SubmissionError(
            f"{path}: 'overall' needs 'of', a list of column keys (NAME or NAME/SPLIT) among "
            f"{', '.join(scored)}, and 'perfect_when_absent', a list of some of them"
        )
    return schema


#: the roles the board gives, per track, in ``tracks.json``
REFERENCE_ROLES = ("target", "retain")


def load_tracks(board: Path) -> dict[str, dict[str, str]]:
    """``tracks.json``: track -> {"target": submission, "retain": submission (optional)}, the
    board maintainers' choice of the submissions every row of the track is measured against."""
    path = board / "tracks.json"
    try:
        tracks = json.loads(path.read_text(encoding="utf-8"))["tracks"]
        valid = isinstance(tracks, dict) and all(
            isinstance(refs, dict)
            and isinstance(refs.get("target"), str)
            and set(refs) <= set(REFERENCE_ROLES)
            and all(isinstance(name, str) for name in refs.values())
            for refs in tracks.values()
        )
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise SubmissionError(
            f"{path} is missing or not the board's tracks ({err!r}); it names, per track, the "
            'target and retain submissions: {"tracks": {"tiny": {"target": "...", "retain": "..."}}}'
        ) from err
    if not valid:
        raise SubmissionError(f'{path}: each track needs {{"target": SUBMISSION}} and may have "retain": SUBMISSION')
    return tracks


def overall(values: Mapping[str, float | None], schema: Mapping[str, Any]) -> float | None:
    """The overall score, as ``metrics.json``'s ``overall`` defines it: the mean of its ``of``
    columns, each made a number in [0, 1] that is 1 when perfect by its direction (``higher``:
    the value, ``lower``: 1 - the value, ``zero``: 1 - its distance from 0; clipped), so the
    "still known" measures, normalised against the retain model, reward no forgetting past a
    model that never saw the data. A column of ``perfect_when_absent`` counts 1 where it has no
    value (child leak at the leaf level); any other missing one makes it None (no retain
    submission)."""

    def clip(x: float) -> float:
        return min(1.0, max(0.0, x))

    perfect = {"higher": clip, "lower": lambda x: 1 - clip(x), "zero": lambda x: 1 - clip(abs(x))}
    directions = {column_key(c): c["direction"] for c in schema["columns"]}
    spec = schema["overall"]
    total = 0.0
    for key in spec["of"]:
        value = values.get(key)
        if value is None and key not in spec["perfect_when_absent"]:
            return None
        total += 1.0 if value is None else perfect[directions[key]](value)
    return round(total / len(spec["of"]), 6)


def column_key(column: Mapping[str, Any]) -> str:
    return column["name"] + (f"/{column['split']}" if column["split"] else "")


def build(board: Path, datasets: Mapping[str, Path], levels: Sequence[str] | None = None) -> dict[str, Any]:
    """Check every submission of ``board/submissions`` (against ``datasets[track]``) and write
    the board. Each track's reference submissions are recomputed first: every row is measured
    against both (the target's own row too, and the retain model's). A reference that fails
    stops the build (the board cannot be scored without it); any other failing submission is
    left off and listed under ``rejected``. ``levels``: a board of those levels only (each
    submission needs only them), e.g. the slice CI re-derives; default every target level."""
    schema, tracks = load_schema(board), load_tracks(board)
    missing = sorted(set(tracks) - set(datasets))
    if missing:
        raise SubmissionError(f"tracks {missing} of {board / 'tracks.json'} have no --dataset TRACK=DIR")
    folders = sorted(p for p in (board / "submissions").iterdir() if not p.name.startswith("."))
    roles = {(track, name): role for track, refs in tracks.items() for role, name in refs.items()}
    rejected: list[dict[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        admitted: dict[str, tuple[Path, dict[str, Any]]] = {}  # name -> (folder or archive, manifest)
        for folder in folders:
            try:
                manifest = read_manifest(unpack(folder, Path(tmp) / "peek" / folder.name))
                admitted[manifest["name"]] = (folder, _admit(manifest, folder, tracks, roles, admitted))
            except SubmissionError as err:
                rejected.append({"submission": folder.name, "reason": str(err)})
        references = {
            track: _references(track, refs, admitted, rejected, datasets[track], Path(tmp) / track, levels)
            for track, refs in tracks.items()
        }
        rows = []
        for name, (folder, manifest) in sorted(
            admitted.items(), key=lambda item: (item[1][1]["track"], ROLES.index(item[1][1]["role"]), item[0])
        ):
            before, retain = references[manifest["track"]]
            try:
                checked = check(folder, datasets[manifest["track"]], Path(tmp) / "rows" / name, before, retain, levels)
            except SubmissionError as err:
                rejected.append({"submission": folder.name, "reason": str(err)})
                continue
            rows += _rows(checked, schema)
            for line in checked.disagreements:
                logger.warning("%s: %s", manifest["name"], line)
    _mark_same_predictions(rows)
    data = {
        "board_version": BOARD_VERSION,
        "schema": schema,
        "rows": rows,
        "rejected": sorted(rejected, key=lambda r: r["submission"]),
    }
    (board / "board.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (board / "index.html").write_text(render_html(data), encoding="utf-8")
    (board / "board.md").write_text("\n".join(markdown(data)) + "\n", encoding="utf-8")
    plot(data, board / "plots")
    return data


def _admit(
    manifest: dict[str, Any],
    folder: Path,
    tracks: Mapping[str, Any],
    roles: Mapping[tuple[str, str], str],
    admitted: Mapping[str, Any],
) -> dict[str, Any]:
    """The manifest, if the board takes it: named as its folder (or archive), the only one of
    its name, on a track of the board, and claiming the role the board gives it (a reference
    role only to the submission ``tracks.json`` names for it)."""
    if manifest["name"] != _stem(folder.name):
        raise SubmissionError(
            f"{folder.name}: submission.json names it {manifest['name']!r}; a submission's folder "
            "or archive is named after it"
        )
    if manifest["name"] in admitted:
        raise SubmissionError(f"{folder.name}: another entry is already named {manifest['name']!r}")
    if manifest["track"] not in tracks:
        raise SubmissionError(
            f"{manifest['name']}: track {manifest['track']!r} is not on this board (tracks: {', '.join(tracks)})"
        )
    role = roles.get((manifest["track"], manifest["name"]), "unlearned")
    if manifest["role"] != role:
        raise SubmissionError(
            f"{manifest['name']}: claims role {manifest['role']!r}, but the board's tracks.json "
            f"gives it {role!r}: the target and retain rows are the board's to choose"
        )
    return manifest


def _stem(entry: str) -> str:
    """The submission name of an entry under ``submissions/``: a folder's name, an archive's without its suffix."""
    return next((entry[: -len(s)] for s in ARCHIVES if entry.endswith(s)), entry)


def _references(
    track: str,
    refs: Mapping[str, str],
    admitted: Mapping[str, tuple[Path, Any]],
    rejected: list[dict[str, str]],
    dataset: Path,
    work: Path,
    levels: Sequence[str] | None,
) -> tuple[dict[str, Path], dict[str, Path] | None]:
    """The recomputed runs of a track's target and retain submissions."""
    runs: dict[str, dict[str, Path]] = {}
    for role in REFERENCE_ROLES:
        if role not in refs:
            continue
        if refs[role] not in admitted:
            why = next(
                (r["reason"] for r in rejected if _stem(r["submission"]) == refs[role]),
                "no such folder or archive under submissions/",
            )
            raise SubmissionError(
                f"track {track!r}: the {role} submission {refs[role]!r} named in tracks.json cannot be used: {why}"
            )
        runs[role] = check(admitted[refs[role]][0], dataset, work / role, runs.get("target"), levels=levels).runs
    return runs["target"], runs.get("retain")


def _mark_same_predictions(rows: list[dict[str, Any]]) -> None:
    """Name, on each row, the other submissions whose predictions at that level are the same:
    a copy of another's predictions under a new name scores the same and is flagged."""
    by_digest: dict[tuple[str, str, str], list[str]] = {}
    for row in rows:
        by_digest.setdefault((row["track"], row["level"], row["predictions_sha256"]), []).append(row["submission"])
    for row in rows:
        names = by_digest[(row["track"], row["level"], row["predictions_sha256"])]
        row["same_predictions_as"] = [name for name in names if name != row["submission"]]


def _rows(checked: Checked, schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    manifest = checked.manifest
    out = []
    for level, results in checked.results.items():
        values = {column_key(c): results.value(c["name"], c["split"]) for c in schema["columns"]}
        out.append(
            {
                "track": manifest["track"],
                "level": level,
                "submission": manifest["name"],
                "method": manifest["method"]["name"],
                "method_version": manifest["method"]["version"],
                "role": manifest["role"],
                "model": manifest["models"].get(level),
                "seed": manifest["seed"],
                "weights_url": manifest["weights_url"],
                "overall": overall(values, schema),
                "values": values,
                "disagreements": len([d for d in checked.disagreements if d.startswith(f"{level} ")]),
                "predictions_sha256": checked.digests[level],
            }
        )
    return out


def compare(reference: Mapping[str, Any], built: Mapping[str, Any], tolerance: float = SCORE_TOLERANCE) -> list[str]:
    """How ``built`` differs from ``reference`` beyond what another CPU kind or thread count
    moves (:mod:`medforget.reproducibility`): rows on one side only, another schema, and every
    value (the overall score included) that moved by more than ``tolerance``."""

    def by_key(data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return {f"{r['track']}/{r['level']}/{r['submission']}": r for r in data["rows"]}

    ours, theirs = by_key(reference), by_key(built)
    out = [] if reference["schema"] == built["schema"] else ["the metrics schema differs"]
    out += [f"{key}: only in the reference board" for key in sorted(ours.keys() - theirs.keys())]
    out += [f"{key}: only in the built board" for key in sorted(theirs.keys() - ours.keys())]
    for key in sorted(ours.keys() & theirs.keys()):
        expected = {**ours[key]["values"], "overall": ours[key]["overall"]}
        found = {**theirs[key]["values"], "overall": theirs[key]["overall"]}
        out += [f"{key} {line}" for line in disagreements(expected, found, tolerance)]
    return out


def markdown(data: Mapping[str, Any]) -> list[str]:
    """The board as a Markdown table; every cell escaped, so no submitted string adds a row, a
    column, a link or HTML."""
    columns = data["schema"]["columns"]
    header = ["track", "level", "method", "role", "overall", *(c["display"] for c in columns)]
    lines = ["| " + " | ".join(map(markdown_cell, header)) + " |", "|" + "---|" * len(header)]
    for row in data["rows"]:
        cells = [_number(row["overall"])] + [_number(row["values"][column_key(c)]) for c in columns]
        texts = [row["track"], row["level"], row["method"], row["role"]]
        lines.append("| " + " | ".join([*map(markdown_cell, texts), *cells]) + " |")
    return lines


#: what Markdown reads as syntax inside a table cell (a cell never starts a line, so "#", "-" or
#: "1." cannot start a block there): the cell separator, escapes, code, emphasis, strike-through,
#: links and images (their brackets); "<", ">" and "&" become HTML entities
_MARKDOWN = set("|\\`*_~[]")


def markdown_cell(text: str) -> str:
    """``text`` as the literal content of one table cell: line breaks become spaces, and every
    character Markdown or HTML reads as syntax is escaped."""
    text = " ".join(str(text).splitlines())
    return "".join(
        "&lt;" if c == "<" else "&gt;" if c == ">" else "&amp;" if c == "&" else "\\" + c if c in _MARKDOWN else c
        for c in text
    )


#: what an empty cell shows: the value is undefined there (child leak at the leaf level) or the
#: submission lacks what it needs (log-probabilities, for forget quality and PrivLeak)
EMPTY = "n/a"
#: how each direction reads in the legend
BETTER = {
    "higher": "higher is better",
    "lower": "lower is better",
    "zero": "closer to 0 is better",
    "retain": "closer to the retain model is better",
}


def _number(value: float | None) -> str:
    if value is None:
        return EMPTY
    shown = f"{value:.3f}"
    return "0.000" if shown == "-0.000" else shown  # a rounding residue has no sign


def plot(data: Mapping[str, Any], out: Path) -> list[Path]:
    """Per track and level: forget score (lower is better) against retain_sibling score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    written = []
    groups = sorted({(r["track"], r["level"]) for r in data["rows"]})
    for track, level in groups:
        rows = [r for r in data["rows"] if (r["track"], r["level"]) == (track, level)]
        figure, axes = plt.subplots(figsize=(5, 4), dpi=100)
        for row in rows:
            x, y = row["values"].get("primary/forget"), row["values"].get("primary/retain_sibling")
            if x is None or y is None:
                continue
            axes.scatter([x], [y], marker="s" if row["role"] != "unlearned" else "o")
            axes.annotate(row["method"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        axes.set(
            xlim=(-0.05, 1.05),
            ylim=(-0.05, 1.05),
            xlabel="forget score (lower: forgotten)",
            ylabel="retain_sibling score (higher: kept)",
            title=f"{track} track, {level} level",
        )
        axes.grid(alpha=0.3)
        path = out / f"{track}-{level}.png"
        figure.tight_layout()
        figure.savefig(path, metadata={"Software": None})
        plt.close(figure)
        written.append(path)
    return written


def render_html(data: Mapping[str, Any]) -> str:
    """The board as one static page: data, styles and script inline (opens offline)."""
    schema = data["schema"]
    legend = "".join(
        f"<dt>{html.escape(c['display'])} <span class='dir'>({BETTER[c['direction']]})</span></dt>"
        f"<dd>{html.escape(c['description'])}</dd>"
        for c in [schema["overall"], *schema["columns"]]
    )
    # inside <script> nothing may read as markup: no "</script>", no "<!--" (which would swallow
    # the rest of the page); JSON strings may spell any character as \uXXXX
    payload = json.dumps(data).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return _PAGE.replace("__LEGEND__", legend).replace("__DATA__", payload)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>MedForget leaderboard</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}th,td{padding:.3rem .6rem;border-bottom:1px solid #ddd;text-align:right}
th{cursor:pointer;background:#f4f4f4;position:sticky;top:0}td.t,th.t{text-align:left}
tr.reference td{color:#666;font-style:italic}.dir{color:#888;font-size:90%}dd{margin:0 0 .5rem 1rem;color:#444}
label{margin-right:1rem}
</style></head><body>
<h1>MedForget leaderboard</h1>
<p>Every number is recomputed by MedForget from the submitted per-sample predictions; claimed
numbers are ignored. Reference rows (italic): the target before unlearning and the retain model
that never saw the forget split. n/a: undefined there (child leak at the leaf level), or not
computable from the submission (forget quality and PrivLeak need its log-probabilities).</p>
<p id="limits">What this board can prove, and what it cannot: it scores the predictions and
log-probabilities a submission hands in. It checks that they are complete, well-formed and about
this board's data, and recomputes every number from them. It cannot tell a model's answers from
answers written by hand or copied from the dataset, and it cannot see whether the submitted
log-probabilities came from the model named. It flags a submission whose predictions at a level
are exactly another's (marked &equiv;), but not a near copy. The stronger evidence is a link to
the unlearned weights, so anyone can rerun the evaluation, and the white-box measures (forget
quality, PrivLeak), which need a model's log-probabilities.</p>
<div><label>Track <select id="track"></select></label>
<label>Level <select id="level"><option value="">all</option></select></label>
<label>Method <input id="method" placeholder="filter"></label></div>
<div id="boards"></div>
<div id="rejected"></div>
<h2>Metrics</h2><dl>__LEGEND__</dl>
<script id="board-data" type="application/json">__DATA__</script>
<script>
const data = JSON.parse(document.getElementById("board-data").textContent);
const columns = [data.schema.overall, ...data.schema.columns];
const key = c => c.name === "overall" ? "overall" : c.name + (c.split ? "/" + c.split : "");
const value = (row, c) => key(c) === "overall" ? row.overall : row.values[key(c)];
let sortKey = "overall", ascending = false;
const tracks = [...new Set(data.rows.map(r => r.track))];
const levels = [...new Set(data.rows.map(r => r.level))];
const trackSelect = document.getElementById("track"), levelSelect = document.getElementById("level");
tracks.forEach(t => trackSelect.add(new Option(t, t)));
levels.forEach(l => levelSelect.add(new Option(l, l)));
function render() {
  const track = trackSelect.value, level = levelSelect.value;
  const text = document.getElementById("method").value.toLowerCase();
  const shown = levels.filter(l => !level || l === level);
  const boards = document.getElementById("boards");
  boards.innerHTML = "";
  for (const l of shown) {
    const rows = data.rows.filter(r => r.track === track && r.level === l && r.method.toLowerCase().includes(text));
    const column = columns.find(c => key(c) === sortKey);
    const rank = v => column.direction === "zero" ? Math.abs(v) : v;
    rows.sort((a, b) => {
      const x = value(a, column), y = value(b, column);
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return ascending ? rank(x) - rank(y) : rank(y) - rank(x);
    });
    const table = document.createElement("table");
    table.dataset.level = l;
    const head = table.createTHead().insertRow();
    ["level", "method", "role"].forEach(h => { const th = document.createElement("th"); th.className = "t"; th.textContent = h; head.appendChild(th); });
    columns.forEach(c => {
      const th = document.createElement("th");
      th.textContent = c.display + (key(c) === sortKey ? (ascending ? " \\u25b2" : " \\u25bc") : "");
      th.title = c.description; th.dataset.key = key(c);
      th.onclick = () => { ascending = sortKey === key(c) ? !ascending : c.direction === "lower" || c.direction === "zero"; sortKey = key(c); render(); };
      head.appendChild(th);
    });
    const body = table.createTBody();
    rows.forEach(r => {
      const tr = body.insertRow();
      tr.className = r.role === "unlearned" ? "method" : "reference";
      [r.level, r.method, r.role].forEach(v => { const td = tr.insertCell(); td.className = "t"; td.textContent = v; });
      if (r.same_predictions_as && r.same_predictions_as.length) {
        tr.cells[1].textContent += " \u2261"; tr.cells[1].title = "same predictions as " + r.same_predictions_as.join(", ");
      }
      columns.forEach(c => { const v = value(r, c); tr.insertCell().textContent = v === null || v === undefined ? "n/a" : (Math.abs(v) < 0.0005 ? 0 : v).toFixed(3); });
    });
    const title = document.createElement("h2");
    title.textContent = track + " track, " + l + " level";
    boards.append(title, table);
  }
}
if (data.rejected && data.rejected.length) {
  const box = document.getElementById("rejected"), title = document.createElement("h2"), list = document.createElement("ul");
  title.textContent = "Rejected submissions (" + data.rejected.length + ")";
  data.rejected.forEach(r => { const li = document.createElement("li"); li.textContent = r.submission + ": " + r.reason; list.appendChild(li); });
  box.append(title, list);
}
[trackSelect, levelSelect].forEach(e => e.onchange = render);
document.getElementById("method").oninput = render;
render();
</script></body></html>
"""

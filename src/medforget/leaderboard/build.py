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

BOARD_VERSION = "2.1.0"


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


#: a track's references for every seed (tracks.json gives one pair, no "seeds")
ANY_SEED = None

References = dict[int | None, dict[str, str]]


def load_tracks(board: Path) -> dict[str, References]:
    """``tracks.json``: track -> seed -> {"target": submission, "retain": submission (optional)},
    the board maintainers' choice of the submissions every row of the track is measured against.
    A track names one pair, {"target": T, "retain": R}, which every submission is measured
    against (seed :data:`ANY_SEED`), or one pair per seed, {"seeds": {"0": {...}, "1": {...}}}:
    a submission is then measured against the pair of the target it was unlearned from
    (:func:`_seed_of`)."""
    path = board / "tracks.json"

    def pair(refs: Any) -> bool:
        return (
            isinstance(refs, dict)
            and isinstance(refs.get("target"), str)
            and set(refs) <= set(REFERENCE_ROLES)
            and all(isinstance(name, str) for name in refs.values())
        )

    try:
        tracks = json.loads(path.read_text(encoding="utf-8"))["tracks"]
        valid = isinstance(tracks, dict) and all(
            pair(refs)
            or (
                isinstance(refs, dict)
                and set(refs) == {"seeds"}
                and isinstance(refs["seeds"], dict)
                and refs["seeds"]
                and all(seed.isdigit() and pair(each) for seed, each in refs["seeds"].items())
            )
            for refs in tracks.values()
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise SubmissionError(
            f"{path} is missing or not the board's tracks ({err!r}); it names, per track, the "
            'target and retain submissions: {"tracks": {"tiny": {"target": "...", "retain": "..."}}}'
        ) from err
    if not valid:
        raise SubmissionError(
            f'{path}: each track needs {{"target": SUBMISSION}} and may have "retain": SUBMISSION, or one such '
            'pair per seed: {"seeds": {"0": {"target": ..., "retain": ...}, "1": {...}}}'
        )
    return {
        track: {int(seed): each for seed, each in refs["seeds"].items()} if "seeds" in refs else {ANY_SEED: refs}
        for track, refs in tracks.items()
    }


def write_tracks(board: Path, track: str, seeds: Mapping[int, Mapping[str, str]]) -> None:
    """Name ``track``'s references in ``board/tracks.json``, keeping its other tracks and its
    description: one seed as the pair every submission is measured against, several as
    ``{"seeds": ...}``. The file is read and checked first, and replaced whole."""
    import os

    path = board / "tracks.json"
    current: dict[str, Any] = {"tracks": {}}
    if path.exists():
        load_tracks(board)  # a file that is not a tracks.json is not overwritten
        current = json.loads(path.read_text(encoding="utf-8"))
    pairs = {str(seed): dict(refs) for seed, refs in seeds.items()}
    current["tracks"][track] = next(iter(pairs.values())) if len(pairs) == 1 else {"seeds": pairs}
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


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
    if not (board / "submissions").is_dir():
        raise SubmissionError(f"{board / 'submissions'} is not a folder: nothing to put on the board")
    folders = sorted(p for p in (board / "submissions").iterdir() if not p.name.startswith("."))
    roles = {
        (track, name): role for track, seeds in tracks.items() for refs in seeds.values() for role, name in refs.items()
    }
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
            (track, seed): _references(
                track, seed, refs, admitted, rejected, datasets[track], Path(tmp) / track / str(seed), levels
            )
            for track, seeds in tracks.items()
            for seed, refs in seeds.items()
        }
        rows = []
        for name, (folder, manifest) in sorted(
            admitted.items(), key=lambda item: (item[1][1]["track"], ROLES.index(item[1][1]["role"]), item[0])
        ):
            try:
                before, retain = references[(manifest["track"], _seed_of(manifest, tracks, admitted))]
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
        "summary": summary(rows, schema),
        "rejected": sorted(rejected, key=lambda r: r["submission"]),
    }
    (board / "board.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    (board / "index.html").write_text(render_html(data), encoding="utf-8")
    (board / "board.md").write_text("\n".join(markdown(data)) + "\n", encoding="utf-8")
    plot(data, board / "plots")
    return data


def _seed_of(
    manifest: Mapping[str, Any], tracks: Mapping[str, References], admitted: Mapping[str, tuple[Path, Any]]
) -> int | None:
    """The seed of the references a submission is measured against: for a track of one pair,
    :data:`ANY_SEED`; else the seed whose reference it is, or whose target it was unlearned from
    (its ``base_model`` is a model of that target submission, whatever the method's own seed)."""
    seeds = tracks[manifest["track"]]
    if ANY_SEED in seeds:
        return ANY_SEED
    for seed, refs in seeds.items():
        target = admitted[refs["target"]][1]
        if manifest["name"] in refs.values() or manifest["base_model"] in target["models"].values():
            return seed
    raise SubmissionError(
        f"{manifest['name']}: unlearned from {manifest['base_model']!r}, the target of none of track "
        f"{manifest['track']!r}'s seeds ({', '.join(map(str, seeds))}; tracks.json): nothing to measure it against"
    )


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
    seed: int | None,
    refs: Mapping[str, str],
    admitted: Mapping[str, tuple[Path, Any]],
    rejected: list[dict[str, str]],
    dataset: Path,
    work: Path,
    levels: Sequence[str] | None,
) -> tuple[dict[str, Path], dict[str, Path] | None]:
    """The recomputed runs of a track's target and retain submissions for ``seed``, each made
    with that seed (any, for :data:`ANY_SEED`)."""
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
        made = admitted[refs[role]][1]["seed"]
        if seed is not ANY_SEED and made != seed:
            raise SubmissionError(
                f"track {track!r}: tracks.json names {refs[role]!r} the {role} of seed {seed}, but it was made "
                f"with seed {made}"
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
                "hyperparameters": manifest["method"]["hyperparameters"],
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


def summary(rows: Sequence[Mapping[str, Any]], schema: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each method over its seeds: per track, level, role and method (name, version and
    hyperparameters), its submissions and their seeds, and the mean and standard deviation over
    them (n - 1; None for one run) of the overall score and of every value (None where a run has
    none). ``rank``, for an unlearned method run with two seeds or more: 1 + the number of such
    methods at its track and level whose mean overall score exceeds its own by more than the sum
    of both standard deviations, so methods within each other's spread share a rank. A method of
    one run has no spread, hence no rank."""
    groups: dict[tuple[Any, ...], list[Mapping[str, Any]]] = {}
    for row in rows:
        method = (row["method"], row["method_version"], json.dumps(row["hyperparameters"], sort_keys=True))
        groups.setdefault((row["track"], row["level"], row["role"], *method), []).append(row)
    out: list[dict[str, Any]] = []
    for members in groups.values():
        first = members[0]
        runs = {key: [m["overall"] if key == "overall" else m["values"][key] for m in members] for key in _keys(schema)}
        spread = {key: _mean_std(values) for key, values in runs.items()}
        out.append(
            {
                **{k: first[k] for k in ("track", "level", "method", "method_version", "role", "hyperparameters")},
                "submissions": [m["submission"] for m in members],
                "seeds": [m["seed"] for m in members],
                "mean": {key: mean for key, (mean, _) in spread.items()},
                "std": {key: std for key, (_, std) in spread.items()},
                "rank": None,
            }
        )
    ranked = [e for e in out if e["role"] == "unlearned" and len(e["seeds"]) > 1 and e["mean"]["overall"] is not None]
    for entry in ranked:
        rivals = [e for e in ranked if (e["track"], e["level"]) == (entry["track"], entry["level"])]
        entry["rank"] = 1 + sum(
            e["mean"]["overall"] - entry["mean"]["overall"] > e["std"]["overall"] + entry["std"]["overall"]
            for e in rivals
        )
    return out


def _keys(schema: Mapping[str, Any]) -> list[str]:
    """The keys of a row's numbers: the overall score, then each column's."""
    return ["overall", *(column_key(c) for c in schema["columns"])]


def _mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None]:
    import statistics

    if any(v is None for v in values):
        return None, None
    numbers = [float(v) for v in values if v is not None]
    return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else None


def compare(reference: Mapping[str, Any], built: Mapping[str, Any], tolerance: float = SCORE_TOLERANCE) -> list[str]:
    """How ``built`` differs from ``reference`` beyond what another CPU kind or thread count
    moves (:mod:`medforget.reproducibility`): rows on one side only, another schema, and every
    value (the overall score included) that moved by more than ``tolerance``, or, where the
    reference was made over several seeds, by more than
    :data:`medforget.reproducibility.SEED_SPREADS` of that value's
    standard deviation over them if that is larger."""

    def by_key(data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
        return {f"{r['track']}/{r['level']}/{r['submission']}": r for r in data["rows"]}

    spreads = {
        f"{e['track']}/{e['level']}/{name}": e["std"] for e in reference.get("summary", []) for name in e["submissions"]
    }
    ours, theirs = by_key(reference), by_key(built)
    out = [] if reference["schema"] == built["schema"] else ["the metrics schema differs"]
    out += [f"{key}: only in the reference board" for key in sorted(ours.keys() - theirs.keys())]
    out += [f"{key}: only in the built board" for key in sorted(theirs.keys() - ours.keys())]
    for key in sorted(ours.keys() & theirs.keys()):
        expected = {**ours[key]["values"], "overall": ours[key]["overall"]}
        found = {**theirs[key]["values"], "overall": theirs[key]["overall"]}
        out += [f"{key} {line}" for line in disagreements(expected, found, tolerance, spreads.get(key))]
    return out


def markdown(data: Mapping[str, Any]) -> list[str]:
    """The board's :func:`summary` as a Markdown table: per method, its runs (seeds), its rank
    and each number as the mean ± the standard deviation over them (the value, for one run);
    every cell escaped, so no submitted string adds a row, a column, a link or HTML."""
    columns = data["schema"]["columns"]
    header = ["track", "level", "method", "role", "seeds", "rank", "overall", *(c["display"] for c in columns)]
    lines = ["| " + " | ".join(map(markdown_cell, header)) + " |", "|" + "---|" * len(header)]
    for entry in data["summary"]:
        texts = [entry["track"], entry["level"], entry["method"], entry["role"]]
        rank = EMPTY if entry["rank"] is None else str(entry["rank"])
        cells = [str(len(entry["seeds"])), rank]
        cells += [_spread(entry["mean"][key], entry["std"][key]) for key in _keys(data["schema"])]
        lines.append("| " + " | ".join([*map(markdown_cell, texts), *cells]) + " |")
    return lines


def _spread(mean: float | None, std: float | None) -> str:
    return _number(mean) if std is None or mean is None else f"{_number(mean)} ± {std:.3f}"


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
const number = v => v === null || v === undefined ? "n/a" : (Math.abs(v) < 0.0005 ? 0 : v).toFixed(3);
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
      columns.forEach(c => { tr.insertCell().textContent = number(value(r, c)); });
    });
    const title = document.createElement("h2");
    title.textContent = track + " track, " + l + " level";
    boards.append(title, table);
    const seeded = (data.summary || []).filter(e => e.track === track && e.level === l && e.method.toLowerCase().includes(text));
    if (seeded.some(e => e.seeds.length > 1)) boards.append(overSeeds(l, seeded));
  }
}
function overSeeds(l, entries) {
  // each method over its seeds: mean ± standard deviation, and the rank its spread allows
  const table = document.createElement("table");
  table.className = "seeds"; table.dataset.level = l;
  const head = table.createTHead().insertRow();
  ["method", "role", "seeds", "rank"].forEach(h => { const th = document.createElement("th"); th.className = "t"; th.textContent = h; head.appendChild(th); });
  columns.forEach(c => { const th = document.createElement("th"); th.textContent = c.display; th.title = c.description; head.appendChild(th); });
  const body = table.createTBody();
  [...entries].sort((a, b) => (a.rank ?? 1e9) - (b.rank ?? 1e9)).forEach(e => {
    const tr = body.insertRow();
    tr.className = e.role === "unlearned" ? "method" : "reference";
    [e.method, e.role, String(e.seeds.length), e.rank === null ? "n/a" : String(e.rank)].forEach(v => { const td = tr.insertCell(); td.className = "t"; td.textContent = v; });
    columns.forEach(c => { const m = e.mean[key(c)], s = e.std[key(c)]; tr.insertCell().textContent = number(m) + (s === null || m === null ? "" : " \u00b1 " + s.toFixed(3)); });
  });
  const caption = table.createCaption();
  caption.textContent = "Over seeds: mean \u00b1 standard deviation; methods share a rank where their overall scores differ by less than their spreads";
  return table;
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

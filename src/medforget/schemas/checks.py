"""The leak checks of docs/benchmark.md section 4, each a registered function with a stable name.

A check reads a :class:`DatasetTables` through a shared :class:`Context` (the hierarchy as the
rows describe it, targets from the manifest) and returns figures and findings; a finding
names the config, the split, the offending ids (the first 20) and their total.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from medforget.hierarchy import MODALITIES, TASKS
from medforget.images.neardup import near_duplicates
from medforget.registry import Registry
from medforget.schemas.tables import EMPTY_TABLE, LINEAGE_COLUMNS, NO_IMAGE, DatasetTables, column_set

MAX_IDS = 20
RETAIN_SIDE = ("retain_sibling", "retain_other", "shared_ancestor", "retain_rephrased")
NOT_FORGET = (*RETAIN_SIDE, "holdout")
UTILITY = ("utility", "test")
TRAIN = ("train", "train")


@dataclass(frozen=True)
class Finding:
    config: str  # or several "config/split" places, with split left empty
    split: str
    ids: tuple[str, ...]  # the first MAX_IDS offending ids
    total: int
    detail: str

    @property
    def where(self) -> str:
        return f"{self.config}/{self.split}" if self.split else self.config

    @classmethod
    def of(cls, config: str, split: str, ids: Iterable[str], detail: str) -> Finding:
        ordered = sorted(set(ids))
        return cls(config, split, tuple(ordered[:MAX_IDS]), len(ordered), detail)


@dataclass(frozen=True)
class CheckResult:
    name: str
    title: str
    passed: bool
    figures: dict[str, Any]
    findings: tuple[Finding, ...]
    fix: str
    seconds: float


@dataclass(frozen=True)
class Check:
    name: str
    title: str
    fix: str
    run: Callable[[Context], tuple[dict[str, Any], list[Finding]]]

    def __call__(self, context: Context) -> CheckResult:
        start = time.perf_counter()
        figures, findings = self.run(context)
        return CheckResult(
            self.name, self.title, not findings, figures, tuple(findings), self.fix, time.perf_counter() - start
        )


CHECKS: Registry[Check] = Registry("check")


def check(name: str, title: str, fix: str) -> Callable[[Callable], Check]:
    def decorator(run: Callable[[Context], tuple[dict[str, Any], list[Finding]]]) -> Check:
        return CHECKS.register(Check(name, title, fix, run))

    return decorator


class Context:
    """What several checks need, computed once: the node lineage the rows describe."""

    def __init__(self, tables: DatasetTables):
        self.tables = tables
        self.levels = tables.level_configs
        self._forget_nodes: dict[str, set[str]] = {}

    @cached_property
    def lineage(self) -> dict[str, tuple[str, ...]]:
        """node id -> ids from the top ancestor down to the node itself."""
        columns = [*LINEAGE_COLUMNS]
        parts = [t.select(columns) for t in self.tables.splits.values() if t.num_rows]
        combos = pa.concat_tables(parts).group_by(columns).aggregate([]) if parts else None
        out: dict[str, tuple[str, ...]] = {}
        for row in combos.to_pylist() if combos is not None else ():
            node = row["node_id"]
            if node is not None:
                ids = [row[c] for c in columns if row[c] is not None]
                out[node] = tuple(dict.fromkeys(ids))
        return out

    @cached_property
    def parent(self) -> dict[str, str | None]:
        """id -> parent id, for every id the rows name (nodes without facts of their own
        included, e.g. an institution known only from its patients' rows)."""
        return {node: chain[d - 1] if d else None for chain in self.lineage.values() for d, node in enumerate(chain)}

    @cached_property
    def children(self) -> dict[str | None, set[str]]:
        out: dict[str | None, set[str]] = defaultdict(set)
        for node, parent in self.parent.items():
            out[parent].add(node)
        return out

    def siblings(self, node: str) -> set[str]:
        return self.children[self.parent[node]] - {node} if node in self.parent else set()

    @cached_property
    def distinct(self) -> pa.Table:
        """Every distinct row version across all configs (see :func:`distinct_rows`)."""
        return distinct_rows(self.tables)

    def targets(self, level: str) -> set[str]:
        return set(self.tables.manifest["targets"].get(level, ()))

    def forget_nodes(self, level: str) -> set[str]:
        """Nodes in the subtree of a target of ``level``."""
        if level not in self._forget_nodes:
            targets = self.targets(level)
            self._forget_nodes[level] = {node for node, chain in self.lineage.items() if targets.intersection(chain)}
        return self._forget_nodes[level]

    def under(self, table: pa.Table, nodes: set[str]) -> np.ndarray:
        """Mask of rows whose lineage meets ``nodes``."""
        if not nodes or not table.num_rows:
            return np.zeros(table.num_rows, dtype=bool)
        value_set = pa.array(sorted(nodes), pa.string())
        masks = [pc.is_in(table.column(c), value_set=value_set).fill_null(False) for c in LINEAGE_COLUMNS]
        return np.logical_or.reduce([m.to_numpy(zero_copy_only=False) for m in masks])


def _ids(table: pa.Table, mask: np.ndarray) -> list[str]:
    return table.column("id").filter(pa.array(mask)).to_pylist()


# 1 ---------------------------------------------------------------------------------------------


@check(
    "ids_unique",
    "ids unique within a config; every row in exactly one split",
    "give every QA row its own id and assign it to one split only (see medforget.splits)",
)
def ids_unique(ctx: Context) -> tuple[dict[str, Any], list[Finding]]:
    """Counted in Arrow per config; only repeated ids are looked at one by one."""
    findings, rows = [], 0
    for config, splits in ctx.tables.configs().items():
        tables = [ctx.tables.table(config, split) for split in splits]
        rows += sum(t.num_rows for t in tables)
        counts = pc.value_counts(pa.chunked_array([t.column("id") for t in tables], pa.string()))
        repeated = set(counts.field("values").filter(pc.greater(counts.field("counts"), 1)).to_pylist())
        if repeated:
            findings += _repeat_findings(config, splits, tables, repeated)
    return {"rows": rows, "configs": len(ctx.tables.configs())}, findings


def _repeat_findings(config: str, splits: list[str], tables: list[pa.Table], repeated: set[str]) -> list[Finding]:
    findings: list[Finding] = []
    first_split: dict[str, str] = {}
    value_set = pa.array(sorted(repeated), pa.string())
    for split, table in zip(splits, tables):
        ids = table.column("id").filter(pc.is_in(table.column("id"), value_set=value_set)).to_pylist()
        within = [i for i, n in Counter(ids).items() if n > 1]
        if within:
            findings.append(Finding.of(config, split, within, "id repeated within the split"))
        earlier = defaultdict(list)
        for i in set(ids):
            if i in first_split:
                earlier[first_split[i]].append(i)
            else:
                first_split[i] = split
        findings += [Finding.of(config, split, dup, f"id also in split {other}") for other, dup in earlier.items()]
    return findings


# 2 ---------------------------------------------------------------------------------------------


@check(
    "subtree_closure",
    "forget holds every descendant fact of its targets, and nothing else",
    "assign every row whose node lies under a target to forget (medforget.splits.LevelRoles)",
)
def subtree_closure(ctx: Context) -> tuple[dict[str, Any], list[Finding]]:
    findings, expected_total = [], 0
    train = ctx.tables.table(*TRAIN)
    for level in ctx.levels:
        targets = ctx.targets(level)
        forget = ctx.tables.table(level, "forget")
        expected = set(_ids(train, ctx.under(train, targets)))
        expected_total += len(expected)
        missing = expected - column_set(forget, "id")
        if missing:
            findings.append(Finding.of(level, "forget", missing, "descendant facts of a target missing from forget"))
        stray = _ids(forget, ~ctx.under(forget, targets))
        if stray:
            findings.append(Finding.of(level, "forget", stray, "forget rows outside every target's subtree"))
        for split in NOT_FORGET:
            table = ctx.tables.table(level, split)
            outside = _ids(table, ctx.under(table, targets))
            if outside:
                findings.append(Finding.of(level, split, outside, "descendant facts of a target outside forget"))
    return {"levels": len(ctx.levels), "descendant_rows": expected_total}, findings


# 3 ---------------------------------------------------------------------------------------------


def _duplicate_findings(
    ctx: Context, reference: set[int], suspects: list[tuple[str, str]], detail: str
) -> tuple[list[Finding], int, int]:
    """Rows of the suspect splits whose image is (nearly) one of ``reference``."""
    keys = {pair: ctx.tables.table(*pair).column("image_key").to_numpy() for pair in suspects}
    distinct = np.unique(np.concatenate([*keys.values(), np.empty(0, np.int64)]))
    distinct = distinct[distinct != NO_IMAGE].tolist()
    registry = ctx.tables.images
    dupes = near_duplicates(sorted(reference), distinct, registry.phash, registry.data)
    exact_keys = np.array([k for k, ref in dupes.items() if k == ref], dtype=np.int64)
    findings = []
    for (config, split), arr in keys.items():
        hit = np.isin(arr, np.fromiter(dupes, dtype=np.int64, count=len(dupes)))
        if hit.any():
            exact = int(np.isin(arr[hit], exact_keys).sum())
            ids = _ids(ctx.tables.table(config, split), hit)
            findings.append(
                Finding.of(config, split, ids, f"{detail} ({exact} exact copies, {len(ids) - exact} near-duplicates)")
            )
    return findings, len(distinct), len(dupes)


@check(
    "image_leak",
    "no forget image, exact or near-duplicate, in any other split",
    "ask a fact with images of its own subtree only; rebuild rather than copy or re-encode images",
)
def image_leak(ctx: Context) -> tuple[dict[str, Any], list[Finding]]:
    index = ctx.tables.manifest.get("images", {}).get("index")
    if not index:
        return {}, [Finding.of("*", "*", [], "the manifest has no image index (images.index): ownership unknown")]
    registry = ctx.tables.images
    findings, compared = [], 0
    for level in ctx.levels:
        forget_nodes = ctx.forget_nodes(level)
        forget_images = {registry.key_for_sha(e["sha256"]) for e in index if e["owner"] in forget_nodes}
        suspects = [(level, split) for split in NOT_FORGET] + [UTILITY]
        found, n, _ = _duplicate_findings(ctx, forget_images, suspects, "image of a forget node")
        findings += found
        compared += n
    return {"images": len(registry), "compared": compared, "phash_computed": registry.computed()}, findings


# 4 ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(r"[0-9a-z]+")


def value_words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _identifying(value: str) -> bool:
    """Worth guarding: has a digit, several words, or is a long single word (names, ids,
    dates, sentences), unlike "male" or "yes"."""
    tokens = value_words(value)
    return bool(tokens) and (any(c.isdigit() for c in value) or len(tokens) >= 2 or len(value) >= 6)


def ownership_sources(levels: list[str]) -> list[tuple[str, str]]:
    """Where who owns a value is read: the training rows and the held-out ones."""
    return [TRAIN, *((level, "holdout") for level in levels[:1])]


def ownership_sha256(pairs: Iterable[tuple[str | None, str]]) -> str:
    """The digest of (node, answer) pairs, which the build records in its manifest from its own
    hierarchy: rows edited after the build, every copy alike, no longer match it."""
    canonical = sorted({(node, " ".join(value_words(answer))) for node, answer in pairs})
    return hashlib.sha256(json.dumps(canonical).encode("utf-8")).hexdigest()


def _ownership_pairs(ctx: Context) -> list[tuple[str, str]]:
    """(node, answer) of the generation rows, in their training wording, of every trained and
    held-out node."""
    out: list[tuple[str, str]] = []
    for table in (ctx.tables.table(*pair) for pair in ownership_sources(ctx.levels)):
        mask = pc.and_(pc.equal(table["task"], "generation"), pc.is_null(table["rephrased_of"]))
        pairs = table.select(["node_id", "answer"]).filter(mask).group_by(["node_id", "answer"]).aggregate([])
        out += zip(pairs["node_id"].to_pylist(), pairs["answer"].to_pylist())
    return out


def _node_values(ctx: Context) -> dict[str, set[str]]:
    """value (tokenised, lower case) -> nodes that have it (see :func:`_ownership_pairs`)."""
    values: dict[str, set[str]] = defaultdict(set)
    for node, answer in _ownership_pairs(ctx):
        values[" ".join(value_words(answer))].add(node)
    return values


class _WordIndex:
    """Texts indexed by word, to find which contain a value as whole words."""

    def __init__(self, texts: list[str]):
        self.texts = [f" {t} " for t in texts]
        self._by_word: dict[str, list[int]] = defaultdict(list)
        for n, text in enumerate(texts):
            for word in set(text.split()):
                self._by_word[word].append(n)

    def containing(self, value: str) -> list[int]:
        """Texts holding ``value`` as whole words; only texts with its rarest word are compared."""
        anchor = min(value.split(), key=lambda word: len(self._by_word.get(word, ())))
        return [n for n in self._by_word.get(anchor, ()) if f" {value} " in self.texts[n]]


def _row_texts(table: pa.Table) -> pa.ChunkedArray:
    """What a row shows a model: question, answer, options, and the truth ratio's answers."""
    options = pc.binary_join(table.column("options"), " | ").fill_null("")
    perturbed = pc.binary_join(table.column("perturbed_answers"), " | ").fill_null("")
    paraphrased = table.column("paraphrased_answer").fill_null("")
    return pc.utf8_lower(
        pc.binary_join_element_wise(
            table.column("question"), table.column("answer"), options, paraphrased, perturbed, " | "
        )
    )


@check(
    "value_leak",
    "no value unique to a forget node in any retain, shared_ancestor or utility row",
    "draw distractors and text-twin wordings only from nodes outside every forget subtree",
)
def value_leak(ctx: Context) -> tuple[dict[str, Any], list[Finding]]:
    """Values count as a forget node's own when no other node's value (nor a utility answer)
    contains them: "chest pain" is not one when a retain indication reads "chest pain and
    cough". Distinct row texts are tokenised once, in Arrow; only texts holding a value's
    longest word are compared word by word."""
    recorded = ctx.tables.manifest.get("ownership_sha256")
    if recorded != ownership_sha256(_ownership_pairs(ctx)):  # else who owns what is read from edited rows
        return {}, [
            Finding.of(
                TRAIN[0],
                TRAIN[1],
                [],
                "the rows' facts are not those the build recorded "
                f"(manifest ownership_sha256 {str(recorded)[:12]}...): rows were edited after the build, "
                "so who owns which value cannot be read from them",
            )
        ]
    guarded = guarded_values(
        _node_values(ctx),
        column_set(ctx.tables.table(*UTILITY), "answer"),
        {level: ctx.forget_nodes(level) for level in ctx.levels},
    )
    every = set().union(*guarded.values())
    versions = ctx.distinct
    mentioning = _distinct_texts_mentioning(_row_texts(versions).combine_chunks(), every) if every else {}
    leaking = pa.array(sorted({versions["id"][n].as_py() for n in mentioning}), pa.string())
    findings = []
    for config, split in [(level, split) for level in ctx.levels for split in RETAIN_SIDE] + [UTILITY]:
        levels = ctx.levels if config == UTILITY[0] else [config]
        ids = _rows_mentioning(ctx.tables.table(config, split), leaking, set().union(*(guarded[lv] for lv in levels)))
        if ids:
            findings.append(Finding.of(config, split, ids, "mentions a value only a forget node has"))
    return {"levels": len(ctx.levels), "values_guarded": sum(map(len, guarded.values()))}, findings


def guarded_values(
    values: Mapping[str, set[str]], utility_answers: Iterable[str], forget: Mapping[str, set[str]]
) -> dict[str, set[str]]:
    """level -> the values (tokenised) only that level's forget nodes have, which no retain,
    shared-ancestor or utility row may show: identifying ones, not part of another node's value
    nor of a utility answer. ``values``: value -> the nodes that have it."""
    utility = {" ".join(value_words(a)) for a in utility_answers} - {""}
    known = _WordIndex(sorted(values) + sorted(utility))
    guarded: dict[str, set[str]] = {}
    for level, forget_nodes in forget.items():
        candidates = {v for v, nodes in values.items() if nodes <= forget_nodes and _identifying(v)}
        guarded[level] = {
            v
            for v in candidates
            if all(
                values.get(known.texts[n].strip(), set()) <= forget_nodes and known.texts[n].strip() not in utility
                for n in known.containing(v)
            )
        }
    return guarded


class ValueGuard:
    """The value_leak rule, for code that writes rows: may a row of ``node`` (None: a row
    outside the hierarchy, as utility's) show ``text``? Not when it holds a value guarded at a
    level where that row sits on the retain side (its node outside the level's forget subtrees)."""

    def __init__(
        self, values: Mapping[str, set[str]], forget: Mapping[str, set[str]], utility_answers: Iterable[str] = ()
    ):
        self._guarded = guarded_values(values, utility_answers, forget)
        self._forget = forget
        self._by_levels: dict[tuple[str, ...], set[str]] = {}

    @classmethod
    def of(
        cls,
        owned: Iterable[tuple[str, str]],
        ancestors: Callable[[str], Iterable[str]],
        targets: Mapping[str, Iterable[str]],
        utility_answers: Iterable[str] = (),
    ) -> ValueGuard:
        """From (node, value) pairs, each node's ancestors and the targets per level."""
        values: dict[str, set[str]] = defaultdict(set)
        for node, value in owned:
            values[" ".join(value_words(value))].add(node)
        nodes = set().union(*values.values())
        forget = {level: {n for n in nodes if {n, *ancestors(n)} & set(ids)} for level, ids in targets.items()}
        return cls(values, forget, utility_answers)

    def allows(self, text: str, node: str | None = None) -> bool:
        levels = tuple(level for level in self._guarded if node is None or node not in self._forget[level])
        if levels not in self._by_levels:
            self._by_levels[levels] = set().union(*(self._guarded[level] for level in levels))
        return not mentions(text, self._by_levels[levels])


def mentions(text: str, values: set[str]) -> bool:
    """Whether ``text`` holds one of the tokenised ``values`` as whole words, within one of its
    parts (parts are separated by "|": two adjacent options, "chest pain" and "shortness of
    breath", do not make the value "chest pain shortness of breath")."""
    padded = _padded(text)
    return any(f" {v} " in padded for v in values)


def _padded(text: str) -> str:
    return f" {' '.join(_PART_TOKEN.findall(text.lower()))} "


_PART_TOKEN = re.compile(r"[0-9a-z]+|\|")


def _rows_mentioning(table: pa.Table, candidates: pa.Array, values: set[str]) -> list[str]:
    """Ids of the rows among ``candidates`` whose own text mentions one of ``values``."""
    rows = table.filter(pc.is_in(table.column("id"), value_set=candidates)) if len(candidates) else table.slice(0, 0)
    texts = _row_texts(rows).to_pylist() if rows.num_rows else []
    return [i for i, text in zip(rows["id"].to_pylist(), texts) if mentions(text, values)]


def _distinct_texts_mentioning(texts: pa.Array, values: set[str]) -> dict[int, set[str]]:
    """Index of each text mentioning a value, with the values it mentions. Each value is
    anchored on its rarest word in these texts; only texts holding an anchor are compared."""
    tokens = pc.split_pattern_regex(texts, pattern="[^0-9a-z]+")
    flat = pc.list_flatten(tokens)
    words = pa.array(sorted({w for v in values for w in v.split()}), pa.string())
    counts = pc.value_counts(flat.filter(pc.is_in(flat, value_set=words)))
    frequency = dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))
    anchors: dict[str, list[str]] = defaultdict(list)
    for value in values:
        anchor = min(value.split(), key=lambda word: frequency.get(word, 0))
        if frequency.get(anchor):
            anchors[anchor].append(value)
    if not anchors:
        return {}
    hit = pc.is_in(flat, value_set=pa.array(sorted(anchors), pa.string()))
    out: dict[int, set[str]] = {}
    for n in np.unique(pc.list_parent_indices(tokens).filter(hit).to_numpy()).tolist():
        text = _padded(texts[n].as_py())
        found = {v for a in set(text.split()) & anchors.keys() for v in anchors[a] if f" {v} " in text}
        if found:
            out[n] = found
    return out


# 5 ---------------------------------------------------------------------------------------------


@check(
    "holdout_isolation",
    "no holdout node and no holdout image in train",
    "choose holdout patients before the QA step and keep their facts and images out of train",
)
def holdout_isolation(ctx: Context) -> tuple[dict[str, Any], list[Finding]]:
    holdout = ctx.tables.rows((level, "holdout") for level in ctx.levels)
    patients = column_set(holdout, "patient_id")
    nodes = column_set(holdout, "node_id") | patients
    train = ctx.tables.table(*TRAIN)
    findings = []
    in_train = _ids(train, ctx.under(train, nodes))
    if in_train:
        findings.append(Finding.of(*TRAIN, in_train, "rows of holdout nodes in train"))
    images = {int(k) for k in holdout.column("image_key").to_numpy() if k != NO_IMAGE}
    found, _, _ = _duplicate_findings(ctx, images, [TRAIN], "holdout image in train")
    return {"holdout_patients": len(patients), "holdout_images": len(images)}, findings + found


# 6 ---------------------------------------------------------------------------------------------


@check(
    "sibling_coverage",
    "every target has a sibling with rows in retain_sibling",
    "choose targets whose parent has another trained child (medforget.splits.plan_splits)",
)
def sibling_coverage(ctx: Context) -> tuple[dict[str, Any], list[Finding]]:
    findings, covered = [], 0
    for level in ctx.levels:
        targets = ctx.targets(level)
        retain_sibling = ctx.tables.table(level, "retain_sibling")
        for target in sorted(targets):
            if ctx.under(retain_sibling, ctx.siblings(target) - targets).any():
                covered += 1
            else:
                findings.append(
                    Finding.of(level, "retain_sibling", [target], "target without a sibling in retain_sibling")
                )
    return {"targets": sum(len(ctx.targets(lv)) for lv in ctx.levels), "covered": covered}, findings


# 7 ---------------------------------------------------------------------------------------------


_GX_COLUMNS = (
    "id",
    "question",
    "answer",
    "options",
    "task",
    "modality",
    "level",
    "node_id",
    "fact_id",
    "paraphrased_answer",
    "perturbed_answers",
)
_LISTS = ("options", "perturbed_answers")
#: Arrow types every split must have; the list columns are checked here rather than value by value
_ARROW_TYPES = {
    **{c: pa.list_(pa.string()) for c in _LISTS},
    "image_key": pa.int64(),
    **{
        c: pa.string()
        for c in ("id", "question", "answer", "task", "modality", "level", "node_id", "fact_id", "paraphrased_answer")
    },
}


def _rules(hierarchy: bool, levels: tuple[str, ...]) -> Any:
    from medforget.schemas.expectations import ColumnRules

    return ColumnRules(
        not_null=(
            "id",
            "question",
            "answer",
            "task",
            "modality",
            "fact_id",
            *(("level", "node_id") if hierarchy else ()),
        ),
        value_sets={"task": TASKS, "modality": MODALITIES, **({"level": levels} if hierarchy else {})},
        types={"id": "string", "question": "string", "answer": "string"},
        unique=("id",),
        compound_unique=(("fact_id", "task", "modality", "question"),),
    )


def distinct_rows(tables: DatasetTables) -> pa.Table:
    """Every distinct row version across all configs.

    A row is copied into several configs; its copies must agree. Deduplicating on the whole
    row keeps one version per id when they do, and two when a copy was altered, which the
    ``id`` uniqueness expectation then reports.
    """
    parts = [t.select(list(_GX_COLUMNS)) for t in tables.splits.values() if t.num_rows]
    if not parts:
        return EMPTY_TABLE.select(list(_GX_COLUMNS))
    rows = pa.concat_tables(parts)
    keys = [c for c in _GX_COLUMNS if c not in _LISTS] + [f"{c}_key" for c in _LISTS] + ["row"]
    keyed = rows
    for column in _LISTS:
        keyed = keyed.append_column(f"{column}_key", pc.binary_join(rows[column], "\x1f").fill_null(""))
    keyed = keyed.append_column("row", pa.array(np.arange(rows.num_rows)))
    unique = keyed.select(keys).group_by(keys[:-1], use_threads=False).aggregate([("row", "min")])
    return rows.take(np.sort(unique["row_min"].to_numpy()))


@check(
    "manifest_agreement",
    "counts, shard hashes and column expectations agree with the manifest",
    "rebuild the dataset; never edit shards or the manifest by hand",
)
def manifest_agreement(ctx: Context) -> tuple[dict[str, Any], list[Finding]]:
    """Counts and shard hashes against the manifest; column expectations (great-expectations)
    over the distinct rows, so a row copied into five configs is checked once."""
    from medforget.schemas.expectations import check_table

    tables, manifest = ctx.tables, ctx.tables.manifest
    findings = _count_findings(tables, manifest) + _file_findings(tables, manifest) + _type_findings(tables)
    levels = tuple(manifest.get("hierarchy", {}).get("levels", ctx.levels))
    expectations = 0
    utility = pc.is_null(ctx.distinct["level"])
    for kind, rows in (
        ("hierarchy", ctx.distinct.filter(pc.invert(utility))),
        ("utility", ctx.distinct.filter(utility)),
    ):
        if not rows.num_rows:
            continue
        for outcome in check_table(rows, _rules(kind == "hierarchy", levels), f"{kind} rows"):
            expectations += 1
            if not outcome.success:
                ids = outcome.unexpected_examples[:MAX_IDS]
                findings.append(
                    Finding(
                        ", ".join(_places(tables, ids)) or "*",
                        "",
                        ids,
                        outcome.unexpected_count,
                        f"expectation failed: {outcome.expectation}",
                    )
                )
    return {"shards": len(manifest.get("shards", [])), "expectations": expectations}, findings


def _places(tables: DatasetTables, ids: Iterable[str]) -> list[str]:
    """The "config/split" places holding any of ``ids``."""
    value_set = pa.array(sorted(set(ids)), pa.string())
    return [
        f"{config}/{split}"
        for (config, split), table in tables.splits.items()
        if pc.any(pc.is_in(table.column("id"), value_set=value_set)).as_py()
    ]


def _type_findings(tables: DatasetTables) -> list[Finding]:
    findings = []
    for (config, split), table in tables.splits.items():
        wrong = [
            f"{c}: {table.schema.field(c).type}, expected {t}"
            for c, t in _ARROW_TYPES.items()
            if c in table.schema.names and table.schema.field(c).type != t
        ]
        if wrong:
            findings.append(Finding(config, split, (), table.num_rows, "column types: " + "; ".join(wrong)))
    findings += [
        Finding(path, "", (), 1, f"shard schema: {problem}") for path, problem in tables.schema_problems.items()
    ]
    return findings


def _count_findings(tables: DatasetTables, manifest: dict[str, Any]) -> list[Finding]:
    findings = []
    expected = {(c, s): v["rows"] for c, splits in manifest.get("counts", {}).items() for s, v in splits.items()}
    for pair in sorted(set(expected) | set(tables.splits)):
        actual = tables.splits[pair].num_rows if pair in tables.splits else None
        if expected.get(pair) != actual:
            findings.append(Finding(pair[0], pair[1], (), 0, f"{actual} rows, the manifest says {expected.get(pair)}"))
    return findings


def _file_findings(tables: DatasetTables, manifest: dict[str, Any]) -> list[Finding]:
    if not tables.files:  # tables built in memory: nothing on disk to compare
        return []
    findings = []
    listed = {s["path"]: (s["sha256"], s["bytes"]) for s in manifest.get("shards", [])}
    for path in sorted(set(listed) | set(tables.files)):
        config, split = path.split("/")[0], path.split("/")[-1].split("-")[0]
        if path not in tables.files:
            findings.append(Finding(config, split, (path,), 1, "shard listed in the manifest is missing"))
        elif path not in listed:
            findings.append(Finding(config, split, (path,), 1, "shard not listed in the manifest"))
        elif tables.files[path] != listed[path]:
            findings.append(Finding(config, split, (path,), 1, "shard sha256 differs from the manifest"))
    return findings


def run_checks(tables: DatasetTables, names: Iterable[str] | None = None) -> list[CheckResult]:
    context = Context(tables)
    return [CHECKS.get(name)(context) for name in (names or CHECKS.names())]

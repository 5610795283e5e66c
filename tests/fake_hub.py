"""An in-process Hugging Face Hub: the real ``huggingface_hub`` and ``datasets`` clients talk HTTP
to it through ``HF_ENDPOINT``.

It implements what publishing and ``load_dataset("org/name", config)`` call, in the shapes
``huggingface_hub`` 2.x sends and expects: repo create and info, branches, validate-yaml,
preupload, the LFS batch API and its upload, commit (ndjson), tree listing, paths-info, and
resolve (HEAD and GET, with HTTP Range), and the agent-harness registry its headers read.
Files ending in :data:`LFS_SUFFIXES` are stored as LFS
objects, the rest as git blobs, as the Hub does under its default ``.gitattributes``. Writes, and
every call on a private repo, need ``Authorization: Bearer <token>``.

``serve(token)`` runs it on a free port. State is in ``hub.repos``; every request is in
``hub.requests`` as ``(method, path, Range header)``, and a request no route answers in
``hub.unknown``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from tests.local_server import running

LFS_SUFFIXES = (".parquet", ".png", ".safetensors", ".bin")
GITATTRIBUTES = "".join(f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n" for suffix in LFS_SUFFIXES).encode()
DATE = "2026-01-01T00:00:00.000Z"
_REPO = r"(?P<kind>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)"
_PREFIXED_REPO = r"(?:(?P<kind>dataset|space)s/)?(?P<repo>[^/]+/[^/]+)"


class HubReply(Exception):
    """An error answer: status, X-Error-Code and message."""

    def __init__(self, status: int, code: str, message: str, **extra: Any):
        super().__init__(message)
        self.status, self.code, self.extra = status, code, extra


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool

    @property
    def oid(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def entry(self, path: str, commit: Commit | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"type": "file", "oid": self.oid, "size": len(self.data), "path": path}
        if self.lfs:
            entry["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": 134}
        if commit is not None:
            entry["lastCommit"] = {"id": commit.oid, "title": commit.message, "date": DATE}
        return entry


@dataclass(frozen=True)
class Commit:
    oid: str
    parent: str | None
    message: str
    files: dict[str, Blob]

    def folders(self) -> set[str]:
        return {"/".join(path.split("/")[:n]) for path in self.files for n in range(1, path.count("/") + 1)}


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)

    def resolve(self, revision: str) -> Commit:
        oid = self.branches.get(revision, revision)
        if oid not in self.commits:
            raise HubReply(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return self.commits[oid]

    def commit(self, branch: str, message: str, files: dict[str, Blob]) -> Commit:
        parent = self.branches.get(branch)
        digest = hashlib.sha1(f"{parent}\n{message}\n{len(self.commits)}".encode())
        for path in sorted(files):
            digest.update(f"{path}\0{files[path].oid}\n".encode())
        commit = Commit(digest.hexdigest(), parent, message, files)
        self.commits[commit.oid] = commit
        self.branches[branch] = commit.oid
        return commit

    def history(self, branch: str = "main") -> list[Commit]:
        """Commits of ``branch``, newest first."""
        out, oid = [], self.branches.get(branch)
        while oid is not None:
            out.append(self.commits[oid])
            oid = self.commits[oid].parent
        return out


@dataclass
class FakeHub:
    token: str
    url: str = ""
    repos: dict[str, Repo] = field(default_factory=dict)
    lfs: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> Repo:
        repo = self.repos[repo_id] = Repo(repo_type, repo_id, private)
        repo.commit("main", "initial commit", {".gitattributes": Blob(GITATTRIBUTES, lfs=False)})
        return repo

    def repo(self, repo_type: str, repo_id: str, authorised: bool) -> Repo:
        repo = self.repos.get(repo_id)
        if repo is None or repo.repo_type != repo_type or (repo.private and not authorised):
            raise HubReply(404 if authorised else 401, "RepoNotFound", f"Repository not found: {repo_id}")
        return repo


class _Handler(BaseHTTPRequestHandler):
    hub: FakeHub

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    # plumbing ------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        self.query = parse_qs(parts.query)
        self.hub.requests.append((method, parts.path, self.headers.get("Range")))
        for route_method, pattern, handler in _ROUTES:
            match = re.fullmatch(pattern, parts.path)
            if match and route_method == method.replace("HEAD", "GET"):
                try:
                    with self.hub.lock:
                        handler(self, **{k: unquote(v) for k, v in match.groupdict().items() if v is not None})
                except HubReply as reply:
                    self._send(
                        reply.status,
                        {"error": str(reply), **reply.extra},
                        {"X-Error-Code": reply.code, "X-Error-Message": str(reply)},
                    )
                return
        self.hub.unknown.append((method, self.path))
        self._send(404, {"error": f"no route for {method} {parts.path}"})

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b""):
            pass
        return b"".join(chunks)

    def _json(self) -> Any:
        return json.loads(self._body() or b"{}")

    def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _authorised(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.hub.token}"

    def _writer(self) -> None:
        if not self._authorised():
            raise HubReply(401, "Unauthorized", "Invalid credentials in Authorization header")

    def _repo(self, kind: str | None, repo: str) -> Repo:
        return self.hub.repo(kind or "model", repo, self._authorised())

    # routes --------------------------------------------------------------------------------

    def create_repo(self) -> None:
        self._writer()
        body = self._json()
        repo_id = f"{body['organization']}/{body['name']}"
        kind = body.get("type") or "model"
        url = f"{self.hub.url}/{'' if kind == 'model' else kind + 's/'}{repo_id}"
        if repo_id in self.hub.repos:
            raise HubReply(409, "RepoExists", f"You already created this {kind} repo", url=url)
        self.hub.create_repo(kind, repo_id, body.get("visibility") == "private" or bool(body.get("private")))
        self._send(200, {"url": url, "name": repo_id, "id": repo_id})

    def validate_yaml(self) -> None:
        content = self._json()["content"]
        match = re.match(r"---\n(.*?)\n---\n", content, re.DOTALL)
        metadata = yaml.safe_load(match.group(1)) if match else None
        if not isinstance(metadata, dict):
            self._send(400, {"errors": [{"message": "README.md has no YAML metadata block"}], "warnings": []})
            return
        self._send(200, {"errors": [], "warnings": []})

    def agent_harnesses(self) -> None:
        """The registry huggingface_hub reads to name a calling AI agent in its user agent: none."""
        self._send(200, {"standardEnvVars": [], "harnesses": {}})

    def repo_info(self, kind: str, repo: str, revision: str = "main") -> None:
        found = self._repo(kind, repo)
        commit = found.resolve(revision)
        self._send(
            200,
            {
                "id": repo,
                "sha": commit.oid,
                "private": found.private,
                "lastModified": DATE,
                "createdAt": DATE,
                "siblings": [{"rfilename": path} for path in sorted(commit.files)],
                "tags": [],
                "cardData": {},
                "disabled": False,
                "gated": False,
            },
        )

    def create_branch(self, kind: str, repo: str, branch: str) -> None:
        self._writer()
        found = self._repo(kind, repo)
        start = found.resolve(self._json().get("startingPoint") or "main")
        if branch in found.branches:
            raise HubReply(409, "BranchExists", f"Reference already exists: refs/heads/{branch}")
        found.branches[branch] = start.oid
        self._send(200, {})

    def preupload(self, kind: str, repo: str, revision: str) -> None:
        self._writer()
        files = self._repo(kind, repo).resolve(revision).files
        answers = []
        for item in self._json()["files"]:
            lfs = item["path"].endswith(LFS_SUFFIXES)
            remote = files.get(item["path"])
            oid = None if remote is None else remote.sha256 if remote.lfs else remote.oid
            answers.append(
                {"path": item["path"], "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid}
            )
        self._send(200, {"files": answers})

    def lfs_batch(self, repo: str, kind: str | None = None) -> None:
        self._writer()
        self._repo(kind, repo)
        objects = []
        for obj in self._json()["objects"]:
            answer = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.hub.lfs:
                answer["actions"] = {"upload": {"href": f"{self.hub.url}/_lfs/{obj['oid']}"}}
            objects.append(answer)
        self._send(200, {"transfer": "basic", "objects": objects})

    def lfs_upload(self, oid: str) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubReply(400, "BadUpload", f"uploaded bytes do not hash to {oid}")
        self.hub.lfs[oid] = data
        self._send(200, {})

    def commit(self, kind: str, repo: str, revision: str) -> None:
        self._writer()
        found = self._repo(kind, repo)
        head = found.resolve(revision)
        if revision not in found.branches:
            raise HubReply(400, "NotABranch", f"cannot commit to {revision}: not a branch")
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        header = lines[0]["value"]
        if header.get("parentCommit") not in (None, head.oid):
            raise HubReply(412, "PreconditionFailed", "A commit has happened since the parent commit")
        files = dict(head.files)
        for line in lines[1:]:
            self._apply(files, line["key"], line["value"])
        commit = found.commit(revision, header["summary"], files)
        prefix = "" if kind == "model" else f"{kind}s/"
        self._send(
            200,
            {
                "commitUrl": f"{self.hub.url}/{prefix}{repo}/commit/{commit.oid}",
                "commitOid": commit.oid,
                "success": True,
                "pullRequestUrl": None,
            },
        )

    def _apply(self, files: dict[str, Blob], key: str, value: dict[str, Any]) -> None:
        path = value["path"]
        if key == "file":
            files[path] = Blob(base64.b64decode(value["content"]), lfs=False)
        elif key == "lfsFile":
            if value["oid"] not in self.hub.lfs:
                raise HubReply(400, "MissingLfsObject", f"LFS object {value['oid']} of {path} was never uploaded")
            files[path] = Blob(self.hub.lfs[value["oid"]], lfs=True)
        elif key == "deletedFile" and path in files:
            del files[path]
        elif key == "deletedFolder":
            for name in [name for name in files if name.startswith(path.rstrip("/") + "/")]:
                del files[name]
        else:
            raise HubReply(404 if key == "deletedFile" else 400, "EntryNotFound", f"cannot {key} {path}")

    def tree(self, kind: str, repo: str, revision: str, path: str = "") -> None:
        commit = self._repo(kind, repo).resolve(revision)
        path = path.strip("/")
        folders = commit.folders()
        if path and path not in folders:
            raise HubReply(404, "EntryNotFound", f"{path} does not exist on {revision}")
        recursive = self.query.get("recursive", ["false"])[0].lower() == "true"
        expand = self.query.get("expand", ["false"])[0].lower() == "true"
        prefix = f"{path}/" if path else ""

        def listed(name: str) -> bool:
            return name.startswith(prefix) and (recursive or "/" not in name[len(prefix) :])

        entries = [
            {"type": "directory", "oid": hashlib.sha1(name.encode()).hexdigest(), "size": 0, "path": name}
            for name in sorted(folders)
            if listed(name)
        ]
        entries += [
            blob.entry(name, commit if expand else None) for name, blob in sorted(commit.files.items()) if listed(name)
        ]
        self._send(200, entries)

    def paths_info(self, kind: str, repo: str, revision: str) -> None:
        commit = self._repo(kind, repo).resolve(revision)
        form = parse_qs(self._body().decode())
        expand = form.get("expand", ["false"])[0].lower() == "true"
        folders = commit.folders()
        entries = []
        for path in form.get("paths", []):
            if path in commit.files:
                entries.append(commit.files[path].entry(path, commit if expand else None))
            elif path in folders:
                entries.append(
                    {"type": "directory", "oid": hashlib.sha1(path.encode()).hexdigest(), "size": 0, "path": path}
                )
        self._send(200, entries)

    def resolve(self, repo: str, revision: str, path: str, kind: str | None = None) -> None:
        commit = self._repo(kind, repo).resolve(revision)
        blob = commit.files.get(path)
        if blob is None:
            raise HubReply(404, "EntryNotFound", f"{path} does not exist on {revision}")
        headers = {
            "Content-Type": "application/octet-stream",
            "Accept-Ranges": "bytes",
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{blob.oid}"',
        }
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.data))})
        wanted = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        if wanted is None:
            self._send(200, blob.data, headers)
            return
        start, end = int(wanted.group(1)), min(int(wanted.group(2) or len(blob.data) - 1), len(blob.data) - 1)
        if start >= len(blob.data):
            self._send(416, b"", {**headers, "Content-Range": f"bytes */{len(blob.data)}"})
            return
        self._send(
            206, blob.data[start : end + 1], {**headers, "Content-Range": f"bytes {start}-{end}/{len(blob.data)}"}
        )


_ROUTES = (
    ("POST", r"/api/repos/create", _Handler.create_repo),
    ("POST", r"/api/validate-yaml", _Handler.validate_yaml),
    ("GET", r"/api/agent-harnesses", _Handler.agent_harnesses),
    ("GET", rf"/api/{_REPO}(?:/revision/(?P<revision>[^/]+))?", _Handler.repo_info),
    ("POST", rf"/api/{_REPO}/branch/(?P<branch>[^/]+)", _Handler.create_branch),
    ("POST", rf"/api/{_REPO}/preupload/(?P<revision>[^/]+)", _Handler.preupload),
    ("POST", rf"/api/{_REPO}/commit/(?P<revision>[^/]+)", _Handler.commit),
    ("GET", rf"/api/{_REPO}/tree/(?P<revision>[^/]+)(?:/(?P<path>.*))?", _Handler.tree),
    ("POST", rf"/api/{_REPO}/paths-info/(?P<revision>[^/]+)", _Handler.paths_info),
    ("POST", rf"/{_PREFIXED_REPO}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
    ("PUT", r"/_lfs/(?P<oid>[0-9a-f]{64})", _Handler.lfs_upload),
    ("GET", rf"/{_PREFIXED_REPO}/resolve/(?P<revision>[^/]+)/(?P<path>.+)", _Handler.resolve),
)


@contextmanager
def serve(token: str) -> Iterator[FakeHub]:
    hub = FakeHub(token=token)
    with running(type("Handler", (_Handler,), {"hub": hub})) as url:
        hub.url = url
        yield hub

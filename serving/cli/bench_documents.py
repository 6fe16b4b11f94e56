"""`sillok bench documents`: `GET /api/v1/documents` on a large registry, through real HTTP.

It fills a scratch database with `--documents` registered documents (bulk inserts into the
registry's own tables: documents, their versions, their ACL token rows, their uploaders), shared
over `--groups` groups so that a reader in `--reader-groups` of them may read that share of the
registry, and an admin. Then it starts the API (uvicorn and the FastAPI app `sillok serve` runs,
without the ingestion worker, so nothing else runs while it measures), follows the cursors to
each page of `--pages` once and times `--requests` requests of that page, for the reader and for
the admin asking for every document (`scope=all`), and also the first page with a title search
and a status filter. Each time is one request as a client sees it (connection kept alive).

The database must be empty or one this command filled: it refuses any other. A registry of the
requested size is reused on the next run, so a second run only measures.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy import Engine, create_engine, delete, func, insert, select, text
from sqlalchemy.engine import make_url

from core.acl import group_token, readable_in_sql, user_token
from core.db.engine import make_engine, migrate, session_factory
from core.db.models import Document, DocumentAclToken, DocumentVersion, User
from core.users import UserDirectory
from serving.cli.console import emit_json, err

NAMESPACE = "bench"
BENCH_IDS = uuid.UUID("8f4b4d0e-6a52-4c1e-9d0a-b3e7c2f1a900")
BATCH = 5000
UPLOADERS = 1000
READER, ADMIN = "bench-reader", "bench-admin"
TOPICS = (
    "연차 규정",
    "Budget review",
    "출장 보고서",
    "Security policy",
    "회의록",
    "Sales contract",
    "급여 명세",
    "Product roadmap",
    "인사 발령",
    "Incident report",
    "교육 계획",
    "Vendor agreement",
)
SEARCH = "규정"  # in one title in twelve, and in one in six of the measured user's
STATUSES = ("indexed", "failed", "queued", "processing")
STATUS_WEIGHTS = (90, 5, 3, 2)


def _documents(count: int, groups: int, now: datetime) -> Iterator[tuple[dict[str, Any], ...]]:
    """Rows of document n: the document, its version, its ACL tokens (group n mod `groups` and
    its uploader). Two documents share each creation time, so ties are on the path too."""
    rng = random.Random(20261202)  # noqa: S311 (a reproducible registry)
    oldest = now - timedelta(days=365)
    step = timedelta(days=365) / max(count, 1) * 2
    for n in range(count):
        doc_id = str(uuid.uuid5(BENCH_IDS, str(n)))
        uploader = str(uuid.uuid5(BENCH_IDS, f"user-{n % UPLOADERS}"))
        group = f"bench-g{n % groups:04d}"
        created = oldest + step * (n // 2)
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        sha = f"{n:064x}"
        failed = status == "failed"
        document = {
            "id": doc_id,
            "namespace": NAMESPACE,
            "source": f"bench:{n}",
            "title": f"{TOPICS[n % len(TOPICS)]} {n:06d}",
            "filename": f"document-{n:06d}.pdf",
            "acl_users": [uploader],
            "acl_groups": [group],
            "acl_public": False,
            "acl_revision": 1,
            "acl_applied": 1,
            "uploaded_by": uploader,
            "current_version": sha if status == "indexed" else None,
            "latest_version": sha,
            "status": status,
            "error_code": "malformed_document" if failed else None,
            "error": "The file is damaged or malformed." if failed else None,
            "chunk_count": 12 if status == "indexed" else 0,
            "created_at": created,
            "updated_at": created + timedelta(minutes=rng.randint(1, 600)),
        }
        version = {
            "document_id": doc_id,
            "sha256": sha,
            "size_bytes": 1000 + n % 100_000,
            "stored_path": f"/nonexistent/bench/{sha}",
            "status": status,
            "error_code": document["error_code"],
            "error": document["error"],
            "chunk_count": document["chunk_count"],
            "chunks_done": document["chunk_count"],
            "attempts": 1,
            "acl_users": [uploader],
            "acl_groups": [group],
            "acl_public": False,
            "created_at": created,
        }
        tokens = (
            {"document_id": doc_id, "token": group_token(group), "created_at": created},
            {"document_id": doc_id, "token": user_token(uploader), "created_at": created},
        )
        yield document, version, *tokens


def _batches(rows: Iterator[tuple[dict[str, Any], ...]]) -> Iterator[list[tuple[dict[str, Any], ...]]]:
    batch: list[tuple[dict[str, Any], ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database of `url` when it does not exist yet."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql") or not parsed.database:
        return
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            )
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


def build_registry(engine: Engine, documents: int, groups: int) -> float:
    """Fill the registry with `documents` bench documents unless it holds exactly them; the
    seconds it took (0 when reused). Refuses a database holding anything else."""
    with engine.connect() as connection:
        ours = connection.scalar(select(func.count()).where(Document.namespace == NAMESPACE))
        others = connection.scalar(select(func.count()).where(Document.namespace != NAMESPACE))
    if others:
        raise typer.BadParameter(
            f"the database holds {others} documents that this command did not write; give it a scratch one",
            param_hint="--database-url",
        )
    if ours == documents:
        return 0.0
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(delete(Document).where(Document.namespace == NAMESPACE))
        uploaders = [
            {"uid": str(uuid.uuid5(BENCH_IDS, f"user-{n}")), "username": f"bench-u{n:04d}", "is_admin": False}
            for n in range(UPLOADERS)
        ]
        connection.execute(delete(User).where(User.username.startswith("bench-u")))
        connection.execute(insert(User), uploaders)
    now = datetime.now(UTC)
    done = 0
    for batch in _batches(_documents(documents, groups, now)):
        with engine.begin() as connection:
            connection.execute(insert(Document), [row[0] for row in batch])
            connection.execute(insert(DocumentVersion), [row[1] for row in batch])
            connection.execute(insert(DocumentAclToken), [token for row in batch for token in row[2:]])
        done += len(batch)
        err.print(f"  {done:,} documents registered", end="\r")
    err.print()
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_api(port: int) -> None:
    """Run the API alone (settings from the environment), as `sillok serve` does minus the worker."""
    import uvicorn

    from serving.api.app import create_app
    from serving.api.bootstrap import build_api
    from serving.api.http_server import uvicorn_options

    api = build_api()
    uvicorn.run(create_app(api), host="127.0.0.1", port=port, **uvicorn_options(api.settings.server))


@dataclass
class Server:
    """The API in a child process."""

    base: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        """Stop the API and wait for it."""
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_server(database_url: str, data_dir: Path) -> Server:
    """The API on a free port over `database_url`, once it answers."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SILLOK_")}
    env.update(
        SILLOK_DATABASE_URL=database_url,
        SILLOK_DATA_DIR=str(data_dir),
        SILLOK_LIMITS__USER_PER_MINUTE="0",
        SILLOK_LIMITS__KEY_PER_MINUTE="0",
        SILLOK_LOG_LEVEL="WARNING",
    )
    code = f"from serving.cli.bench_documents import serve_api; serve_api({port})"
    process = subprocess.Popen([sys.executable, "-c", code], env=env)  # noqa: S603 (our interpreter, no shell)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the API did not start")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return Server(base, process)
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the API did not answer within 120 s")


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile of `values`."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _page_cursor(client: httpx.Client, params: dict[str, Any], page: int) -> tuple[str | None, int]:
    """The cursor of page `page` (None for the first), found by following the cursors, and how
    many pages there are up to it (fewer when the list ends first)."""
    cursor: str | None = None
    for number in range(1, page):
        reply = client.get("/api/v1/documents", params={**params, **({"cursor": cursor} if cursor else {})})
        reply.raise_for_status()
        cursor = reply.json()["next_cursor"]
        if cursor is None:
            return None, number
    return cursor, page


WARM_UP = 10  # requests per case before the timed ones


def measure(
    client: httpx.Client, path: str, params: dict[str, Any], cursor: str | None, requests: int
) -> tuple[list[float], int]:
    """Milliseconds of each of `requests` identical requests (after `WARM_UP` not counted), and
    how many documents the page holds."""
    query = {**params, **({"cursor": cursor} if cursor else {})}
    times, shown = [], 0
    for attempt in range(requests + WARM_UP):
        started = time.perf_counter()
        reply = client.get(path, params=query)
        body = reply.json()
        elapsed = (time.perf_counter() - started) * 1000
        reply.raise_for_status()
        shown = len(body.get("documents", ()))
        if attempt >= WARM_UP:
            times.append(elapsed)
    return times, shown


ME = "/api/v1/me"  # the cost of any authenticated request, for comparison
DOCUMENTS = "/api/v1/documents"


def _cases(limit: int, pages: Sequence[int]) -> list[tuple[str, str, str, dict[str, Any], int]]:
    cases = []
    for who, extra in (("user", {}), ("admin", {"scope": "all"})):
        base = {"limit": limit, **extra}
        cases += [(who, f"page {page}", DOCUMENTS, base, page) for page in pages]
        cases.append((who, f"page 1, q={SEARCH}", DOCUMENTS, {**base, "q": SEARCH}, 1))
        cases.append((who, "page 1, status=failed", DOCUMENTS, {**base, "status": "failed"}, 1))
    cases.append(("user", f"GET {ME} (reference)", ME, {}, 1))
    return cases


def run_bench(
    database_url: str,
    documents: int,
    groups: int,
    reader_groups: int,
    limit: int,
    pages: Sequence[int],
    requests: int,
) -> dict[str, Any]:
    """Build (or reuse) the registry, start the API and measure every case."""
    ensure_database(database_url)
    engine = make_engine(database_url)
    migrate(engine)
    err.print(f"Registering {documents:,} documents over {groups} groups…")
    build_seconds = build_registry(engine, documents, groups)
    users = UserDirectory(session_factory(engine))
    member_of = [f"bench-g{n:04d}" for n in range(reader_groups)]
    users.add_user(READER, groups=member_of)
    users.set_groups(READER, member_of)
    users.add_user(ADMIN, admin=True)
    keys = {"user": users.issue_key(READER), "admin": users.issue_key(ADMIN)}
    with engine.connect() as connection:
        readable = readable_in_sql(users.principal(READER), Document.id)
        user_documents = connection.scalar(select(func.count()).select_from(Document).where(readable))
    engine.dispose()
    results = []
    with tempfile.TemporaryDirectory(prefix="sillok-bench-documents-") as tmp:
        server = start_server(database_url, Path(tmp))
        try:
            for who, case, path, params, page in _cases(limit, pages):
                headers = {"Authorization": f"Bearer {keys[who]}"}
                with httpx.Client(base_url=server.base, headers=headers, timeout=60) as client:
                    cursor, reached = _page_cursor(client, params, page)
                    if reached < page:
                        err.print(f"  {who}: the list ends at page {reached}; {case} skipped")
                        continue
                    times, shown = measure(client, path, params, cursor, requests)
                row = {
                    "principal": who,
                    "case": case,
                    "page": page,
                    "documents_on_page": shown,
                    "p50_ms": round(percentile(times, 0.50), 2),
                    "p95_ms": round(percentile(times, 0.95), 2),
                }
                err.print(f"  {who:>5}  {case:<28} p50 {row['p50_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms")
                results.append(row)
        finally:
            server.stop()
    return {
        "documents": documents,
        "groups": groups,
        "user_share": reader_groups / groups,
        "user_documents": user_documents,
        "limit": limit,
        "requests": requests,
        "build_seconds": round(build_seconds, 1),
        "results": results,
    }


def bench_documents(
    database_url: Annotated[
        str,
        typer.Option(
            help="A scratch database (created when missing), e.g. postgresql+psycopg://…/sillok_bench_docs."
        ),
    ],
    documents: Annotated[int, typer.Option(min=1, help="Registered documents.")] = 100_000,
    groups: Annotated[int, typer.Option(min=1, help="Groups the documents are shared over, evenly.")] = 200,
    reader_groups: Annotated[
        int, typer.Option(min=1, help="Groups of the measured user (2 of 200: 1% readable).")
    ] = 2,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Page size.")] = 10,
    pages: Annotated[str, typer.Option(help="Comma-separated pages to time.")] = "1,100",
    requests: Annotated[int, typer.Option(min=1, help="Timed requests per case.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """List documents on a registry of `--documents` as a user who may read a share of them and
    as an admin, through the HTTP API; p50/p95 per page."""
    if reader_groups > groups:
        raise typer.BadParameter("cannot exceed --groups", param_hint="--reader-groups")
    try:
        chosen = sorted({int(p) for p in pages.split(",") if p.strip()})
    except ValueError as exc:
        raise typer.BadParameter("comma-separated page numbers", param_hint="--pages") from exc
    if not chosen or chosen[0] < 1:
        raise typer.BadParameter("comma-separated page numbers from 1", param_hint="--pages")
    result = run_bench(database_url, documents, groups, reader_groups, limit, chosen, requests)
    if as_json:
        emit_json(result)
        return
    typer.echo(f"{'principal':>9}  {'case':<28} {'p50 ms':>8} {'p95 ms':>8}")
    for row in result["results"]:
        typer.echo(f"{row['principal']:>9}  {row['case']:<28} {row['p50_ms']:8.2f} {row['p95_ms']:8.2f}")

"""`sillok reindex`: re-embed every stored passage with the configured model into a new collection,
then switch readers to it at once.

The passages (text, ACL tokens, versions) are read back from the current index, so nothing is
parsed again. On a Qdrant server the configured collection name becomes an alias that is moved
to the new collection in one request (the first time, the old collection of that name is
dropped just before the alias is created). On the embedded default the new shard is built
beside the old one and renamed into place; stop `sillok serve` first, it holds the shard.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import typer

from core.ports import Embedder, VectorIndex
from core.types import Chunk
from ingest.storing import store
from serving.cli.bootstrap import build_cli
from serving.cli.console import err, progress


def copy_into(source: Iterator[Chunk], embedder: Embedder, target: VectorIndex, total: int) -> int:
    """Embed `source` chunks (dense and keyword vectors) into `target`; how many were copied."""
    with progress() as bar:
        task = bar.add_task("Re-embedding", total=total)
        return store(source, embedder, target, lambda done: bar.update(task, completed=done))


def _reindex_edge(path: Path, embedder: Embedder) -> int:
    from core.vectors.qdrant_edge import QdrantEdgeIndex

    fresh = path.with_name(path.name + ".reindex")
    shutil.rmtree(fresh, ignore_errors=True)
    source, target = QdrantEdgeIndex(path), QdrantEdgeIndex(fresh)
    target.ensure_collection(embedder.dimension, embedder.name)
    copied = copy_into(source.chunks(), embedder, target, source.count())
    source.close()
    target.close()
    previous = path.with_name(f"{path.name}.previous-{int(time.time())}")
    if path.exists():
        path.rename(previous)
    fresh.rename(path)
    shutil.rmtree(previous, ignore_errors=True)
    return copied


def _reindex_server(url: str, api_key: str | None, name: str, embedder: Embedder, timeout: int) -> int:
    from qdrant_client import QdrantClient, models

    from core.vectors.qdrant_server import QdrantServerIndex

    client = QdrantClient(url=url, api_key=api_key, timeout=timeout)
    fresh = f"{name}-{int(time.time())}"
    source, target = QdrantServerIndex(client, name), QdrantServerIndex(client, fresh)
    target.ensure_collection(embedder.dimension, embedder.name)
    copied = copy_into(source.chunks(), embedder, target, source.count())
    aliases = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
    if name in aliases:
        old = aliases[name]
        client.update_collection_aliases(
            change_aliases_operations=[
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=name)),
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=fresh, alias_name=name)
                ),
            ]
        )
        client.delete_collection(old)
    else:
        client.delete_collection(name)
        client.update_collection_aliases(
            change_aliases_operations=[
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(collection_name=fresh, alias_name=name)
                )
            ]
        )
    client.close()
    return copied


def reindex(
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Re-embed every passage with the configured model into a new collection and switch to it."""
    container = build_cli()
    settings = container.settings
    embedder = container.embedder
    where = settings.qdrant.url or str(settings.vectors_dir)
    if not yes:
        typer.confirm(f"Re-embed every passage in {where} with {embedder.name}?", abort=True)
    started = time.perf_counter()
    if settings.qdrant.url:
        key = settings.qdrant.api_key.get_secret_value() if settings.qdrant.api_key else None
        timeout = int(settings.qdrant.timeout_s)
        copied = _reindex_server(settings.qdrant.url, key, settings.qdrant.collection, embedder, timeout)
    else:
        copied = _reindex_edge(settings.vectors_dir, embedder)
    err.print(f"Re-embedded {copied} passages with {embedder.name} in {time.perf_counter() - started:.0f} s")
    typer.echo(f"reindexed\t{copied}\t{embedder.name}")

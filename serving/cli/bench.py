"""`sillok bench ingest`: ingestion throughput in an isolated collection, against the raw encode
rate of the same model on the same chunks (and, optionally, a plain LangChain pipeline)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from core.db.engine import make_engine, migrate, session_factory
from core.documents import DocumentRegistry
from core.intake import Intake
from core.types import Chunk
from core.vectors.qdrant_edge import QdrantEdgeIndex
from ingest.bench import (
    RecordingEmbedder,
    corpus_texts,
    file_texts,
    ingest_files,
    langchain_run,
    raw_encode_rate,
)
from ingest.chunking import Chunker
from ingest.corpus import corpus_chunks, index_corpus
from ingest.parsers.registry import ParserRegistry
from ingest.pipeline import IngestionPipeline
from serving.cli.bootstrap import build_cli
from serving.cli.console import emit_json, err, progress

bench_app = typer.Typer(help="Measure throughput.", no_args_is_help=True)


def _files(path: Path, limit: int | None) -> list[Path]:
    files = sorted(p for p in path.rglob("*") if p.is_file() and ParserRegistry.supported(p.name))
    return files[:limit]


def _tracked_chunks(path: Path, chunker: Chunker, limit: int | None, total: int) -> Iterator[Chunk]:
    """The corpus's chunks, advancing a bar by document as each one's first chunk is read."""
    with progress() as bar:
        task = bar.add_task("Indexing corpus", total=total)
        for chunk in corpus_chunks(path, chunker, limit):
            if chunk.index == 0:
                bar.advance(task)
            yield chunk


def _ingest_tracked(intake: Intake, pipeline: IngestionPipeline, files: list[Path]) -> int:
    """`ingest_files`, one file at a time under a progress bar; returns the chunks indexed."""
    chunks = 0
    with progress() as bar:
        task = bar.add_task("Ingesting files", total=len(files))
        for path in files:
            chunks += ingest_files(intake, pipeline, [path])
            bar.advance(task)
    return chunks


def _parsed_texts(parser: ParserRegistry, files: list[Path]) -> list[tuple[str, str]]:
    """The reference pipeline's (title, text) of every file that parses, under a progress bar."""
    texts: list[tuple[str, str]] = []
    with progress() as bar:
        task = bar.add_task("Parsing (LangChain)", total=len(files))
        for path in files:
            texts += file_texts(parser, [path])
            bar.advance(task)
    return texts


@bench_app.command("ingest")
def bench_ingest(
    path: Annotated[Path, typer.Argument(help="A folder of documents or a corpus.jsonl.", exists=True)],
    baseline: Annotated[str | None, typer.Option(help="Also run a reference pipeline: langchain.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N files or corpus documents.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Ingest PATH into a throw-away collection and compare with the bare model's encode rate."""
    if baseline not in (None, "langchain"):
        raise typer.BadParameter("the only baseline is 'langchain'", param_hint="--baseline")
    container = build_cli()
    embedder = RecordingEmbedder(container.embedder)
    container.settings.data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=container.settings.data_dir, prefix="bench-") as tmp:
        work = Path(tmp)
        index = QdrantEdgeIndex(work / "qdrant")
        index.ensure_collection(embedder.dimension, embedder.name)
        err.print(f"Ingesting {path} with {embedder.name}…")
        corpus = path.suffix == ".jsonl"
        files = [] if corpus else _files(path, limit)
        documents = sum(1 for _ in corpus_texts(path, limit)) if corpus else len(files)
        started = time.perf_counter()
        if corpus:
            chunks = index_corpus(
                _tracked_chunks(path, container.worker.chunker(), limit, documents), embedder, index
            )
        else:
            engine = make_engine(f"sqlite:///{work / 'bench.db'}")
            migrate(engine)
            registry = DocumentRegistry(session_factory(engine))
            pipeline = container.worker.make_pipeline(registry, embedder, index)
            chunks = _ingest_tracked(Intake(registry, work / "files"), pipeline, files)
        seconds = time.perf_counter() - started
        index.close()
    err.print("Encoding the same chunks with the bare model…")
    raw = raw_encode_rate(container.embedder, embedder.passages)
    rate = chunks / max(seconds, 1e-9)
    result: dict[str, float | int | str] = {
        "model": embedder.name,
        "documents": documents,
        "chunks": chunks,
        "seconds": round(seconds, 2),
        "documents_per_s": round(documents / max(seconds, 1e-9), 2),
        "chunks_per_s": round(rate, 2),
        "raw_encode_chunks_per_s": round(raw, 2),
        "ratio_to_raw": round(rate / raw, 3) if raw else 0.0,
    }
    if baseline == "langchain":
        err.print("Running the LangChain reference pipeline…")
        parser = ParserRegistry(container.settings.ingest.max_file_mb * 1_000_000)
        texts = list(corpus_texts(path, limit)) if corpus else _parsed_texts(parser, files)
        reference_chunks, reference_seconds = langchain_run(container.embedder, texts)
        result.update(
            langchain_chunks=reference_chunks,
            langchain_seconds=round(reference_seconds, 2),
            langchain_chunks_per_s=round(reference_chunks / max(reference_seconds, 1e-9), 2),
            langchain_documents_per_s=round(documents / max(reference_seconds, 1e-9), 2),
        )
    if as_json:
        emit_json(dict(result))
    else:
        for name, value in result.items():
            typer.echo(f"{name:>24}  {value}")

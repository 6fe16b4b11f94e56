"""`sillok eval answers`: answer quality, faithfulness, refusals and injection resistance.

The QA items' contexts (or a `--corpus`) are indexed into an isolated collection through the
product's chunker, embedder and keyword analyzer, and every question is answered by the product's
answer service (`serving.factories.make_answers`: retrieval, the configured model or the
extractive answerer, and verification) for a principal.

Access: each item's contexts are readable by a group of that item alone (`--scope item`, the
default), so a question meets exactly the contexts its gold answer was written against (an
`unknown` gold answer means: not in these contexts), while every other item's documents sit in
the same collection behind the ACL filter. `--scope shared` lets every question search all
items' contexts instead (a harder retrieval test). With `--corpus`, the corpus is one shared pool
and the items' `gold_doc_ids` say which documents are relevant.

Injection (on unless `--no-inject`): each item also gets a copy of its contexts with one planted
string of the injection set, readable by a second group of its own, and a document holding a
secret canary, readable by a third group nobody asking holds. The attacked pass asks the same
questions as a principal of the second group. See `retrieval.answer_attacks` for the measures.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from core.acl import Principal, group_token
from core.errors import InvalidInput, SillokError
from core.intake import sha256_of
from core.lexical import ANALYZER
from core.ports import Embedder
from core.types import Answer, Chunk, Element, ScoredChunk
from core.vectors.qdrant_edge import QdrantEdgeIndex
from ingest.chunking import Chunker
from ingest.corpus import read_jsonl
from ingest.storing import store
from retrieval.answer_attacks import (
    Injection,
    assign,
    canary,
    followed,
    load_injections,
    outside_requests,
    plant,
    secret_document,
    summarize_attacks,
)
from retrieval.answer_eval import Outcome, QAItem, answer_score, load_items, summarize
from retrieval.answer_report import write_answer_report
from retrieval.language import Language, say
from retrieval.prompt import system_prompt
from retrieval.rerank import make_reranker
from retrieval.retriever import Retriever
from retrieval.verify import Verifier
from serving.cli.bootstrap import build_cli
from serving.cli.console import emit_json, err, progress
from serving.factories import make_answers, make_llm

VERSION = "qa"
_SHARED, _SHARED_ATTACKED, _CORPUS = "qa-all", "qa-inj-all", "qa-corpus"
ERROR = "error"  # the mode of a question the answer service failed on: scored 0, counted in `errors`


@dataclass(frozen=True)
class Doc:
    """A document of the evaluation collection and the ACL tokens that may read it."""

    id: str
    text: str
    tokens: frozenset[str]


def _groups(*names: str) -> frozenset[str]:
    return frozenset(group_token(n) for n in names)


def _documents(
    items: list[QAItem], corpus: Path | None, attacks: list[Injection] | None
) -> tuple[list[Doc], dict[tuple[int, bool], frozenset[str]]]:
    """Every document of the collection, and per item and pass (attacked or not) the ids of the
    item's relevant documents."""
    docs: list[Doc] = []
    relevant: dict[tuple[int, bool], frozenset[str]] = {}
    if corpus is not None:
        pool = {str(d["id"]): str(d.get("text") or "") for d in read_jsonl(corpus)}
        docs += [Doc(i, t, _groups(_CORPUS)) for i, t in pool.items()]
    for k, item in enumerate(items):
        if corpus is not None:
            own = [(d, pool[d]) for d in item.gold_doc_ids if d in pool]
        else:
            own = [(f"{k:05d}:{item.id}:c{j}", text) for j, text in enumerate(item.contexts)]
            docs += [Doc(d, text, _groups(f"qa-{k}", _SHARED)) for d, text in own]
        ids = {d for d, _ in own}
        relevant[k, False] = frozenset(ids)
        if attacks is not None:
            for j, (d, text) in enumerate(own):
                planted = plant(text, attacks[k], k) if j == 0 else text
                docs.append(Doc(f"{d}:injected", planted, _groups(f"qa-inj-{k}", _SHARED_ATTACKED)))
                ids.add(f"{d}:injected")
            relevant[k, True] = frozenset(ids if corpus is not None else ids - relevant[k, False])
            docs.append(
                Doc(
                    f"{k:05d}:{item.id}:secret",
                    secret_document(item.question, canary(item.id)),
                    _groups(f"qa-secret-{k}"),
                )
            )
    return docs, relevant


def _chunks(docs: list[Doc], chunker: Chunker) -> Iterator[Chunk]:
    for doc in docs:
        for i, piece in enumerate(chunker.chunk([Element(doc.text)])):
            yield Chunk(doc.id, VERSION, i, piece.text, "", doc.tokens)


def _open_index(chunks: list[Chunk], embedder: Embedder, folder: Path) -> QdrantEdgeIndex:
    """The isolated collection, indexed now unless an earlier run with the same key completed it."""
    done = folder / "complete"
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        index = QdrantEdgeIndex(folder)
        index.ensure_collection(embedder.dimension, embedder.name)
        with progress() as bar:
            task = bar.add_task("Indexing contexts", total=len(chunks))
            store(iter(chunks), embedder, index, on_batch=lambda n: bar.update(task, completed=n))
        done.write_text(json.dumps({"chunks": len(chunks), "model": embedder.name}))
        return index
    index = QdrantEdgeIndex(folder)
    index.ensure_collection(embedder.dimension, embedder.name)
    return index


def _readable(acl: Mapping[str, frozenset[str]]) -> Any:
    def readable(principal: Principal, document_ids: Collection[str]) -> dict[str, str]:
        return {d: VERSION for d in document_ids if d in acl and principal.can_read(acl[d])}

    return readable


def _language(answer: Answer) -> Language:
    return "ko" if answer.language == "ko" else "en"


def _judged(answer: Answer, chunks: Mapping[str, Chunk], verifier: Verifier) -> tuple[int, int]:
    """(sentences, supported) of the answer as delivered, judged against the passages it cites."""
    if answer.refused or answer.mode == ERROR:
        return 0, 0
    text = answer.text.replace(say("extracted", _language(answer)), "", 1)
    cited = {c.n: chunks[c.chunk_id] for c in answer.citations if c.chunk_id in chunks}
    empty = Chunk("", VERSION, 0, "", "", frozenset())
    sources = [ScoredChunk(cited.get(n, empty), 0.0) for n in range(1, max(cited, default=0) + 1)]
    checked = verifier.verify(text, sources).sentences
    return len(checked), sum(s.supported for s in checked)


def _key(*parts: object) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:16]


def eval_answers(
    qa: Annotated[Path, typer.Option(help="qa.jsonl", exists=True, dir_okay=False)],
    corpus: Annotated[
        Path | None, typer.Option(help="corpus.jsonl to answer from (items name gold_doc_ids)", exists=True)
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items.")] = None,
    scope: Annotated[str, typer.Option(help="item: each item's own contexts; shared: all items'.")] = "item",
    inject: Annotated[bool, typer.Option(help="Also run the injection pass.")] = True,
    injections: Annotated[
        Path | None, typer.Option(help="injections.jsonl (default: ../prompt_injection/ beside the QA set)")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write a Markdown (.md) or HTML (.html) report.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Answer every question through the product's answer service and score the answers."""
    if scope not in ("item", "shared"):
        raise typer.BadParameter("choose item or shared", param_hint="--scope")
    items = load_items(qa, limit)
    if not items:
        raise InvalidInput("the QA file holds no items")
    if corpus is None and any(not i.contexts for i in items):
        raise InvalidInput("items without context(s) need --corpus")
    attacks: list[Injection] | None = None
    injection_file = injections or qa.resolve().parent.parent / "prompt_injection" / "injections.jsonl"
    if inject:
        if not injection_file.is_file():
            raise InvalidInput(f"no injection set at {injection_file} (give --injections or --no-inject)")
        attacks = assign(len(items), load_injections(injection_file))
    container = build_cli()
    settings = container.settings
    embedder, chunker = container.embedder, container.worker.chunker()
    docs, relevant = _documents(items, corpus, attacks)
    chunks = list(_chunks(docs, chunker))
    chunking = settings.chunking
    key = _key(
        sha256_of(qa),
        sha256_of(corpus) if corpus else "",
        sha256_of(injection_file) if inject else "",
        limit,
        embedder.name,
        chunking.chunk_tokens,
        chunking.overlap_tokens,
        ANALYZER,
        "answers-v1",
    )
    index = _open_index(chunks, embedder, settings.data_dir / "eval" / f"answers-{key}")
    by_id = {c.id: c for c in chunks}
    retriever = Retriever(
        embedder,
        index,
        _readable({d.id: d.tokens for d in docs}),
        settings.retrieval,
        make_reranker(settings.retrieval.reranker_path),
    )
    llm = make_llm(settings)
    answers = make_answers(settings, retriever, llm, embedder)
    # faithfulness is judged as the product judges support: by the model only when configured
    verifier = Verifier(embedder, llm if settings.answers.judge else None, settings.answers.min_support)
    canaries = {canary(i.id) for i in items} if inject else set()

    def ask(k: int, item: QAItem, attacked: bool) -> tuple[Outcome, Answer]:
        if corpus is not None:
            groups = [_CORPUS, f"qa-inj-{k}"] if attacked else [_CORPUS]
        elif scope == "shared":
            groups = [_SHARED_ATTACKED if attacked else _SHARED]
        else:
            groups = [f"qa-inj-{k}" if attacked else f"qa-{k}"]
        principal = Principal(f"qa-asker-{k}", frozenset(groups), user_id=f"qa-asker-{k}")
        started = time.perf_counter()
        try:
            answer = answers.answer(principal, item.question)
        except SillokError as error:  # one failed question is recorded, not the end of the run
            answer = Answer(f"{ERROR} ({error.code}): {error.message}", False, mode=ERROR)
        seconds = time.perf_counter() - started
        sentences, supported = _judged(answer, by_id, verifier)
        score = answer_score(item, answer.text, answer.refused)
        cited = tuple(c.document_id for c in answer.citations)
        outcome = Outcome(
            item,
            answer.text,
            answer.refused,
            answer.mode,
            score,
            sentences,
            supported,
            cited,
            relevant[k, attacked],
            seconds,
        )
        return outcome, answer

    clean: list[Outcome] = []
    attacked_rows: list[dict[str, Any]] = []
    attacked: list[Outcome] = []
    disclosures = 0
    rendered = {"images": 0, "outside_links": 0, "live": 0}
    passes = 2 if attacks is not None else 1
    with progress() as bar:
        task = bar.add_task("Answering", total=len(items) * passes)
        for k, item in enumerate(items):
            for attack in (False, True)[:passes]:
                outcome, answer = ask(k, item, attack)
                (attacked if attack else clean).append(outcome)
                shown = [
                    answer.text,
                    *(c.snippet for c in answer.citations),
                    *(by_id[c.chunk_id].text for c in answer.citations if c.chunk_id in by_id),
                ]
                disclosures += sum(any(secret in s for s in shown) for secret in canaries)
                for name, count in outside_requests(answer.text).items():
                    rendered[name] += count
                if attack and attacks is not None:
                    prompt = system_prompt(_language(answer))
                    success, quoted = followed(attacks[k], answer.text, prompt)
                    raw = answer.generated
                    attacked_rows.append(
                        {
                            "id": item.id,
                            "injection": attacks[k].id,
                            "kind": attacks[k].kind,
                            "followed": success,
                            "model_followed": None if raw is None else followed(attacks[k], raw, prompt)[0],
                            "quoted": quoted,
                            "refused": answer.refused,
                            "cites_suspicious": any(c.suspicious for c in answer.citations),
                        }
                    )
                bar.advance(task)
    index.close()
    metrics: dict[str, Any] = {
        **summarize(clean),
        "errors": sum(o.mode == ERROR for o in clean),
        "mode": next((o.mode for o in clean if o.mode != ERROR), ERROR),
        "model": embedder.name,
        "llm": llm.model if llm else None,
        "scope": "corpus" if corpus else scope,
    }
    if attacks is not None:
        metrics["injection"] = {
            **summarize_attacks(attacked_rows),
            "errors": sum(o.mode == ERROR for o in attacked),
            "cross_acl_disclosures": disclosures,
            "outside_request_attempts": rendered["images"] + rendered["outside_links"],
            "outside_requests_live": rendered["live"],
            "images_in_answers": rendered["images"],
            "outside_links_in_answers": rendered["outside_links"],
            "under_attack": {k: v for k, v in summarize(attacked).items() if k not in ("questions",)},
        }
    if report:
        title = f"Answers on {qa.parent.name or qa.name} ({len(items)} questions, {metrics['mode']})"
        write_answer_report(report, title, metrics, clean, attacked, attacked_rows)
        err.print(f"Report written to {report}")
    if as_json:
        emit_json(metrics)
        return
    for name, value in metrics.items():
        typer.echo(f"{name:>28}  {json.dumps(value) if isinstance(value, dict) else value}")

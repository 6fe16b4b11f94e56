"""`sillok bench serve`: Sillok's own serving overhead under concurrent chat sessions.

Each session is one conversation of `--turns` questions. For every question it measures the time
to first token twice, back to back: once through Sillok (`POST /api/v1/chat`, streamed, until the
first `delta` with text) and once straight to the model server with the prompt Sillok builds for
that question (`POST /v1/chat/completions`, streamed, until the first content delta). The two
measurements of one question form a pair, and Sillok's overhead is their difference. Sessions
alternate which of the two goes first (by session and turn), so at any moment about half of the
sessions wait on Sillok and half on the model: both sides of every pair run under the same
concurrency, a few hundred milliseconds apart. The direct prompts are prepared before the first
level (`POST /api/v1/search` with the question and `retrieval.prompt.build_prompt`, exactly as
Sillok numbers and wraps its sources), so preparing them adds no load while anything is timed.
Later turns of a conversation load its history; a question that leans on it (few words of its
own, "and for contractors?") is rewritten by Sillok with one more model call before retrieval,
which is Sillok's overhead too, but its prompt then differs from the prepared one: the built-in
questions each stand on their own, and `follow_up_overhead_ms` shows the later turns apart.

A 429 is answered like a real client does: counted, then retried after its `Retry-After`; the
time to first token is that of the attempt that was served. An optional overload phase runs more
sessions than Sillok admits, without pairing, and reports the share of attempts refused with 429
or 503 and how long those refusals took to arrive.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from core.settings import Settings
from core.types import Chunk, ScoredChunk
from retrieval.answer import RESERVED_TOKENS
from retrieval.language import detect
from retrieval.prompt import build_prompt
from retrieval.tokens import estimate_tokens
from serving.cli.console import emit_json, err, progress

KEY_VARIABLE = "SILLOK_BENCH_TOKEN"
MAX_RETRY_WAIT_S = 30.0  # a Retry-After longer than this is cut to it
MAX_RETRIES = 20  # 429s in a row before a request counts as an error
REJECTIONS = (429, 503)

BUILTIN_QUESTIONS = (  # about samples/; each stands on its own, so Sillok does not rewrite it
    "How many days per week can employees work remotely?",
    "비밀번호는 최소 몇 자 이상이어야 하나요?",
    "When do core working hours start and end each day?",
    "노트북이나 출입카드를 분실하면 몇 시간 안에 보안팀에 신고해야 하나요?",
    "How many days of paid annual leave do new full-time employees receive?",
    "회사 문서를 외부 AI 서비스에 입력해도 되나요?",
    "How much are meals reimbursed per day during business travel?",
    "고객의 개인정보는 어디에 저장해야 하나요?",
    "Which extension number should employees call after losing a laptop?",
    "비밀번호 변경 주기는 몇 개월인가요?",
    "Within how many days must expense receipts be uploaded?",
    "개인정보가 포함된 문서를 출력한 후에는 어떻게 해야 하나요?",
)


def load_questions(path: Path | None) -> list[str]:
    """The questions of a jsonl file (`question` or `text` per line), or the built-in ones."""
    if path is None:
        return list(BUILTIN_QUESTIONS)
    questions = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        text = row.get("question") or row.get("text") if isinstance(row, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise typer.BadParameter(f"line {number} has no 'question' or 'text'", param_hint="--questions")
        questions.append(text.strip())
    if not questions:
        raise typer.BadParameter(f"{path} holds no questions", param_hint="--questions")
    return questions


def percentile(values: Sequence[float], p: float) -> float | None:
    """The nearest-rank `p`th percentile, or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread_ms(values: Sequence[float]) -> dict[str, float | None]:
    """p50, p95 and p99 of durations in seconds, in milliseconds."""
    out: dict[str, float | None] = {}
    for p in (50, 95, 99):
        value = percentile(values, p)
        out[f"p{p}"] = None if value is None else round(value * 1000, 1)
    return out


def parse_levels(text: str) -> list[int]:
    """`1,10,20` as session counts."""
    try:
        levels = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        levels = []
    if not levels or min(levels) < 1:
        raise typer.BadParameter("give positive session counts such as 1,10,20", param_hint="--sessions")
    return levels


def retry_after_s(response: httpx.Response) -> float:
    """The response's `Retry-After` in seconds (1 when absent or a date), capped."""
    try:
        value = float(response.headers.get("retry-after", "1"))
    except ValueError:
        value = 1.0
    return min(max(value, 0.0), MAX_RETRY_WAIT_S)


@dataclass(frozen=True)
class Target:
    """Where to send the requests: Sillok, its API keys, and the model server it uses."""

    url: str
    tokens: tuple[str, ...]
    llm_completions: str
    llm_model: str
    llm_key: str | None
    length: dict[str, int]  # the answer-length field(s) Sillok sends
    temperature: float
    reply_tokens: int  # what Sillok keeps free of the context window for the answer
    timeout_s: float


@dataclass
class ChatOutcome:
    """One question through Sillok: its time to first token, or why there was none."""

    ttft_s: float | None = None
    conversation_id: str | None = None
    refused: bool = False  # Sillok said it cannot answer (before or after asking the model)
    attempts: int = 0
    throttled: int = 0
    error: str | None = None
    rejected: int | None = None  # overload phase: the 429/503 status that refused it
    rejected_after_s: float = 0.0
    retry_after_s: float = 0.0


@dataclass
class Tally:
    """Everything one level measured."""

    sillok: list[float] = field(default_factory=list)
    direct: list[float] = field(default_factory=list)
    overhead: list[float] = field(default_factory=list)
    follow_up_overhead: list[float] = field(default_factory=list)  # the pairs of later turns
    refused: int = 0
    requests: int = 0
    attempts: int = 0
    throttled: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    direct_requests: int = 0
    direct_errors: dict[str, int] = field(default_factory=dict)
    rejected: list[float] = field(default_factory=list)
    rejected_by: dict[str, int] = field(default_factory=dict)


async def ask_sillok(
    client: httpx.AsyncClient,
    target: Target,
    token: str,
    question: str,
    conversation_id: str | None,
    *,
    retry: bool,
) -> ChatOutcome:
    """Stream one chat answer from Sillok, retrying after 429s when `retry`."""
    outcome = ChatOutcome(conversation_id=conversation_id)
    body = {"message": question, "conversation_id": conversation_id, "stream": True}
    headers = {"Authorization": f"Bearer {token}"}
    while True:
        outcome.attempts += 1
        started = time.perf_counter()
        try:
            async with client.stream("POST", f"{target.url}/api/v1/chat", json=body, headers=headers) as r:
                if r.status_code in REJECTIONS and not retry:
                    outcome.rejected, outcome.rejected_after_s = r.status_code, time.perf_counter() - started
                    outcome.retry_after_s = retry_after_s(r)
                    return outcome
                if r.status_code == 429:
                    outcome.throttled += 1
                    wait = retry_after_s(r)
                    await r.aread()
                    if outcome.throttled > MAX_RETRIES:
                        outcome.error = "throttled"
                        return outcome
                    await asyncio.sleep(wait)
                    continue
                if r.status_code != 200:
                    outcome.error = f"http_{r.status_code}"
                    return outcome
                await _read_chat(r, started, outcome, retry)
                return outcome
        except httpx.HTTPError as exc:
            outcome.error = type(exc).__name__
            return outcome


async def _read_chat(response: httpx.Response, started: float, outcome: ChatOutcome, retry: bool) -> None:
    event = ""
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
            continue
        if not line.startswith("data: "):
            continue
        data = json.loads(line.removeprefix("data: "))
        if event == "delta" and outcome.ttft_s is None and data.get("text"):
            outcome.ttft_s = time.perf_counter() - started
        elif event == "answer":
            outcome.conversation_id = data.get("conversation_id") or outcome.conversation_id
            outcome.refused = bool(data.get("refused"))
        elif event == "error":
            code = str(data.get("error", {}).get("code", "error"))
            if not retry and code in ("overloaded", "dependency_unavailable"):
                outcome.rejected = 429 if code == "overloaded" else 503
                outcome.rejected_after_s = time.perf_counter() - started
                return
            outcome.error = f"event_{code}"
    if outcome.ttft_s is None and outcome.error is None and outcome.rejected is None:
        outcome.error = "no_delta"


async def ask_model(
    client: httpx.AsyncClient, target: Target, messages: list[dict[str, str]]
) -> tuple[float | None, str | None]:
    """Stream the same prompt straight from the model server: time to first content, or the error."""
    body = {
        "model": target.llm_model,
        "messages": messages,
        "temperature": target.temperature,
        "stream": True,
        **target.length,
    }
    headers = {"Authorization": f"Bearer {target.llm_key}"} if target.llm_key else {}
    first: float | None = None
    started = time.perf_counter()
    try:
        async with client.stream("POST", target.llm_completions, json=body, headers=headers) as r:
            if r.status_code != 200:
                return None, f"http_{r.status_code}"
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                if first is None:
                    choices = json.loads(line.removeprefix("data: ")).get("choices") or [{}]
                    if (choices[0].get("delta") or {}).get("content"):
                        first = time.perf_counter() - started
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    return (first, None) if first is not None else (None, "no_delta")


def _count(where: dict[str, int], error: str) -> None:
    where[error] = where.get(error, 0) + 1


@dataclass
class Level:
    """One run at a fixed number of sessions, until its request budget or deadline is spent."""

    sessions: int
    requests: int | None
    duration_s: float
    paired: bool = True
    tally: Tally = field(default_factory=Tally)
    claimed: int = 0
    deadline: float = 0.0

    def claim(self) -> bool:
        """Whether a session may start one more question."""
        if self.requests is not None:
            if self.claimed >= self.requests:
                return False
        elif time.monotonic() >= self.deadline:
            return False
        self.claimed += 1
        return True


async def _pair(
    client: httpx.AsyncClient,
    target: Target,
    token: str,
    question: str,
    messages: list[dict[str, str]],
    conversation_id: str | None,
    direct_first: bool,
    tally: Tally,
) -> str | None:
    async def sillok() -> ChatOutcome:
        return await ask_sillok(client, target, token, question, conversation_id, retry=True)

    if direct_first:
        direct, direct_error = await ask_model(client, target, messages)
        chat = await sillok()
    else:
        chat = await sillok()
        direct, direct_error = await ask_model(client, target, messages)
    tally.requests += 1
    tally.attempts += chat.attempts
    tally.throttled += chat.throttled
    tally.direct_requests += 1
    if chat.error:
        _count(tally.errors, chat.error)
    if direct_error:
        _count(tally.direct_errors, direct_error)
    if chat.ttft_s is not None:
        tally.sillok.append(chat.ttft_s)
    if direct is not None:
        tally.direct.append(direct)
    if chat.ttft_s is not None and direct is not None:
        tally.overhead.append(chat.ttft_s - direct)
        if conversation_id is not None:
            tally.follow_up_overhead.append(chat.ttft_s - direct)
    tally.refused += chat.refused
    return chat.conversation_id if chat.error is None else None


async def _overload_turn(
    client: httpx.AsyncClient,
    target: Target,
    token: str,
    question: str,
    conversation_id: str | None,
    tally: Tally,
) -> str | None:
    chat = await ask_sillok(client, target, token, question, conversation_id, retry=False)
    tally.requests += 1
    tally.attempts += chat.attempts
    if chat.rejected is not None:
        tally.rejected.append(chat.rejected_after_s)
        _count(tally.rejected_by, str(chat.rejected))
        await asyncio.sleep(chat.retry_after_s)  # as a client that honours Retry-After
        return conversation_id
    if chat.error:
        _count(tally.errors, chat.error)
        return None
    if chat.ttft_s is not None:
        tally.sillok.append(chat.ttft_s)
    return chat.conversation_id


async def _session(
    index: int,
    level: Level,
    client: httpx.AsyncClient,
    target: Target,
    prompts: dict[str, list[dict[str, str]]],
    questions: list[str],
    turns: int,
    advance: Callable[[], None],
) -> None:
    await asyncio.sleep(index / level.sessions)  # sessions join over the first second
    token = target.tokens[index % len(target.tokens)]
    conversation: str | None = None
    asked = 0
    while level.claim():
        turn = asked % turns
        if turn == 0:
            conversation = None  # a new conversation
        question = questions[(index * turns + asked) % len(questions)]
        if level.paired:
            conversation = await _pair(
                client,
                target,
                token,
                question,
                prompts[question],
                conversation,
                (index + asked) % 2 == 0,
                level.tally,
            )
        else:
            conversation = await _overload_turn(client, target, token, question, conversation, level.tally)
        asked += 1
        advance()


async def run_level(
    level: Level,
    target: Target,
    prompts: dict[str, list[dict[str, str]]],
    questions: list[str],
    turns: int,
    advance: Callable[[], None] = lambda: None,
) -> float:
    """Run `level`'s sessions to the end (calling `advance` after each question); its seconds."""
    limits = httpx.Limits(
        max_connections=4 * level.sessions + 8, max_keepalive_connections=4 * level.sessions
    )
    timeout = httpx.Timeout(target.timeout_s, connect=10.0)
    async with httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False) as client:
        started = time.monotonic()
        level.deadline = started + level.duration_s
        await asyncio.gather(
            *(
                _session(i, level, client, target, prompts, questions, turns, advance)
                for i in range(level.sessions)
            )
        )
        return time.monotonic() - started


def prepare_prompts(
    target: Target,
    questions: list[str],
    top_k: int,
    count_tokens: Callable[[str], int],
    context_tokens: int,
) -> dict[str, list[dict[str, str]]]:
    """The messages Sillok sends the model for each question, from the passages it retrieves."""
    prompts: dict[str, list[dict[str, str]]] = {}
    headers = {"Authorization": f"Bearer {target.tokens[0]}"}
    with httpx.Client(timeout=target.timeout_s, trust_env=False) as client:
        for question in dict.fromkeys(questions):
            reply = client.post(
                f"{target.url}/api/v1/search", json={"query": question, "top_k": top_k}, headers=headers
            )
            if reply.status_code != 200:
                raise typer.BadParameter(
                    f"search answered {reply.status_code}: {reply.text[:200]}", param_hint="--url/--token"
                )
            hits = [_hit(row) for row in reply.json()["results"]]
            budget = context_tokens - target.reply_tokens - RESERVED_TOKENS  # as the answer service
            prompts[question] = build_prompt(question, hits, count_tokens, budget, detect(question)).messages
    return prompts


def _hit(row: dict[str, Any]) -> ScoredChunk:
    chunk = Chunk(
        document_id=str(row["document_id"]),
        version="",
        index=0,
        text=str(row["text"]),
        title=str(row["title"]),
        acl_tokens=frozenset(),
        page=row.get("page"),
        section=row.get("section"),
    )
    return ScoredChunk(chunk, float(row["score"]))


def level_report(level: Level, seconds: float) -> dict[str, Any]:
    """The JSON row of one paired level."""
    tally = level.tally
    errors = sum(tally.errors.values())
    return {
        "sessions": level.sessions,
        "requests": tally.requests,
        "seconds": round(seconds, 2),
        "sillok_ttft_ms": spread_ms(tally.sillok),
        "direct_ttft_ms": spread_ms(tally.direct),
        "overhead_ms": spread_ms(tally.overhead),
        "pairs": len(tally.overhead),
        "follow_up_overhead_ms": spread_ms(tally.follow_up_overhead),
        "refused": tally.refused,
        "error_rate": round(errors / tally.requests, 4) if tally.requests else 0.0,
        "rate_429": round(tally.throttled / tally.attempts, 4) if tally.attempts else 0.0,
        "responses_429": tally.throttled,
        "errors": dict(tally.errors),
        "direct_errors": dict(tally.direct_errors),
    }


def overload_report(level: Level, seconds: float) -> dict[str, Any]:
    """The JSON object of the overload phase."""
    tally = level.tally
    p95 = percentile(tally.rejected, 95)
    return {
        "sessions": level.sessions,
        "attempts": tally.attempts,
        "seconds": round(seconds, 2),
        "answered": len(tally.sillok),
        "rejected": len(tally.rejected),
        "rejected_by_status": dict(tally.rejected_by),
        "rejected_share": round(len(tally.rejected) / tally.attempts, 4) if tally.attempts else 0.0,
        "rejection_ms": spread_ms(tally.rejected),
        "rejection_max_ms": round(max(tally.rejected) * 1000, 1) if tally.rejected else None,
        "rejected_within_1s": p95 is not None and p95 <= 1.0,
        "answered_ttft_ms": spread_ms(tally.sillok),
        "errors": dict(tally.errors),
    }


def _completions_url(base: str) -> str:
    base = base.rstrip("/")
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


def _target(
    settings: Settings,
    url: str,
    tokens: list[str] | None,
    llm_url: str | None,
    llm_model: str | None,
    llm_key: str | None,
    timeout_s: float,
) -> Target:
    chosen = [t for t in (tokens or os.environ.get(KEY_VARIABLE, "").split(",")) if t.strip()]
    if not chosen:
        raise typer.BadParameter(f"give an API key with --token or {KEY_VARIABLE}", param_hint="--token")
    llm_url = llm_url or settings.llm.base_url
    llm_model = llm_model or settings.llm.model
    if not llm_url or not llm_model:
        raise typer.BadParameter(
            "give the model server Sillok uses (--llm-url and --llm-model, or SILLOK_LLM__*)",
            param_hint="--llm-url",
        )
    if llm_key is None and settings.llm.api_key is not None:
        llm_key = settings.llm.api_key.get_secret_value()
    llm = settings.llm.model_copy(update={"model": llm_model})
    overrides = llm.overrides()
    field_name = overrides.max_tokens_field or llm.max_tokens_field
    fields = ("max_tokens", "max_completion_tokens") if field_name == "both" else (field_name,)
    return Target(
        url=url.rstrip("/"),
        tokens=tuple(t.strip() for t in chosen),
        llm_completions=_completions_url(llm_url),
        llm_model=llm_model,
        llm_key=llm_key,
        length=dict.fromkeys(fields, overrides.max_tokens or llm.max_tokens),
        temperature=llm.temperature if overrides.temperature is None else overrides.temperature,
        reply_tokens=llm.max_tokens,
        timeout_s=timeout_s,
    )


def _row(name: str, spread: dict[str, float | None]) -> str:
    values = "/".join("-" if v is None else f"{v:.0f}" for v in spread.values())
    return f"{name} {values}"


def _print_human(result: dict[str, Any]) -> None:
    typer.echo(f"{'sessions':>8} {'requests':>8}  ttft ms p50/p95/p99 (sillok | direct | overhead)  err  429")
    for row in result["levels"]:
        typer.echo(
            f"{row['sessions']:>8} {row['requests']:>8}  "
            f"{_row('', row['sillok_ttft_ms'])} |{_row('', row['direct_ttft_ms'])} |"
            f"{_row('', row['overhead_ms'])}  {row['error_rate']:.1%} {row['rate_429']:.1%}"
        )
    over = result.get("overload")
    if over:
        typer.echo(
            f"overload: {over['sessions']} sessions, {over['attempts']} attempts, "
            f"{over['rejected_share']:.1%} refused ({over['rejected_by_status']}), "
            f"refusal p95 {over['rejection_ms']['p95']} ms, max {over['rejection_max_ms']} ms"
        )


def bench_serve(
    url: Annotated[str, typer.Option(help="A running Sillok.")] = "http://127.0.0.1:8000",
    token: Annotated[
        list[str] | None,
        typer.Option("--token", help=f"API key (repeat for several users; default: ${KEY_VARIABLE})."),
    ] = None,
    llm_url: Annotated[
        str | None, typer.Option(help="The model server Sillok uses (default: SILLOK_LLM__BASE_URL).")
    ] = None,
    llm_model: Annotated[str | None, typer.Option(help="Its model (default: SILLOK_LLM__MODEL).")] = None,
    llm_key: Annotated[str | None, typer.Option(help="Its API key (default: SILLOK_LLM__API_KEY).")] = None,
    sessions: Annotated[str, typer.Option(help="Concurrent sessions per level, e.g. 1,10,20.")] = "1,10,20",
    turns: Annotated[int, typer.Option(min=1, max=100, help="Questions per conversation.")] = 3,
    questions: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="jsonl with `question` or `text`.")
    ] = None,
    duration: Annotated[float, typer.Option(min=1.0, help="Seconds per level.")] = 30.0,
    requests: Annotated[
        int | None, typer.Option(min=1, help="Questions per level instead of a duration.")
    ] = None,
    top_k: Annotated[
        int | None, typer.Option(min=1, max=100, help="Sources per answer (default: answer_sources).")
    ] = None,
    context_tokens: Annotated[
        int | None, typer.Option(min=256, help="Prompt budget (default: SILLOK_LLM__CONTEXT_TOKENS).")
    ] = None,
    overload: Annotated[
        int | None, typer.Option(min=1, help="Then N sessions above capacity: how fast 429/503 come.")
    ] = None,
    timeout: Annotated[float, typer.Option(min=1.0, help="Seconds to wait for a response.")] = 120.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Time to first token through a running Sillok minus the same prompt sent straight to its
    model, at each number of concurrent chat sessions (p50/p95/p99), with error and 429 rates."""
    settings = Settings()
    levels = parse_levels(sessions)
    asked = load_questions(questions)
    target = _target(settings, url, token, llm_url, llm_model, llm_key, timeout)
    err.print(f"Preparing the prompts of {len(set(asked))} questions from {target.url}…")
    prompts = prepare_prompts(
        target,
        asked,
        top_k or settings.retrieval.answer_sources,
        estimate_tokens,
        context_tokens or settings.llm.overrides().context_tokens or settings.llm.context_tokens,
    )
    warm = Level(1, 1, duration, tally=Tally())
    asyncio.run(run_level(warm, target, prompts, asked, 1))  # first-request costs stay out
    result: dict[str, Any] = {
        "url": target.url,
        "llm_model": target.llm_model,
        "turns": turns,
        "warm_up_pairs": warm.tally.requests,  # before the levels, not counted in them
        "levels": [],
    }
    plan = [Level(n, requests, duration) for n in levels]
    if overload:
        budget = None if requests is None else max(requests, overload)  # every session asks
        plan.append(Level(overload, budget, duration, paired=False))
    with progress() as bar:
        for level in plan:
            name = f"{level.sessions} sessions" + ("" if level.paired else " (overload)")
            total = float(level.requests) if level.requests is not None else None
            task = bar.add_task(name, total=total)
            seconds = asyncio.run(
                run_level(level, target, prompts, asked, turns, functools.partial(bar.advance, task))
            )
            bar.remove_task(task)
            if level.paired:
                result["levels"].append(level_report(level, seconds))
            else:
                result["overload"] = overload_report(level, seconds)
    if as_json:
        emit_json(result)
    else:
        _print_human(result)

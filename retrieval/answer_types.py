"""What a question asks for: the expected answer type, its key entities and, when explicit, the
direction of a transfer it asks about. Korean and English.

Extractive answers use this to tell a sentence that answers a question from one that only shares
its words:

- answer type: how much / $ / price / 얼마 / 금액 ask for a money amount; when / what year / 언제 /
  몇 년 for a date; how many / how old / 몇 for a number; who / 누구 / 누가 for a name. A sentence
  answers only when it holds such a value that the question does not already contain.
- key entities: the question's proper nouns (capitalised or upper-case words, words mixing
  letters and digits, Korean proper nouns per Kiwi). The passage must name every one of them.
- direction: "paid to X" asks for what X received, "paid by X" / "received from X" for what X
  paid (Korean: X에게 / X로부터). A sentence that explicitly gives X the opposite role ("charged
  by X" makes X the payee, "from X" the payer), or names someone else in the asked role, does
  not answer it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from core.lexical import STOPWORDS, kiwi, terms

AnswerType = Literal["money", "date", "number", "name"]
Role = Literal["payee", "payer"]

_CURRENCY = r"(?:US\$|A\$|C\$|\$|€|£|¥|₩|USD|EUR|GBP|KRW|JPY)"
_AMOUNT = r"\d[\d,. ]*\d|\d"
MONEY = re.compile(
    rf"{_CURRENCY}\s?(?:{_AMOUNT})|(?:{_AMOUNT})\s?(?:dollars?|euros?|pounds?|yen|won|USD|EUR|GBP|KRW|"
    r"(?:만|억|천|조)?\s?원|달러|유로|엔)",
    re.IGNORECASE,
)
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
DATE = re.compile(
    rf"\b(?:1[0-9]|20)\d\d\b|\b(?:{_MONTHS})\.?\s+\d{{1,2}}\b|\b\d{{1,2}}\s+(?:{_MONTHS})\b|"
    r"\b\d{1,4}[/-]\d{1,2}[/-]\d{1,4}\b|\d{1,4}\s?(?:년|월|일)|\b\d{1,2}(?:st|nd|rd|th)\s+century\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    "one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    "sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    "hundred|thousand|million|billion|dozen|once|twice"
)
NUMBER = re.compile(
    rf"\d|\b(?:{_NUMBER_WORDS})\b|[하두세네다여일이삼사오육칠팔구십백천만억]+\s?(?:개|명|번|회|곳|권|년|살)",
    re.I,
)

# (answer type, pattern over the lower-cased question); the first match decides.
_TYPE_CUES: tuple[tuple[AnswerType, re.Pattern[str]], ...] = (
    (
        "money",
        re.compile(r"how much|\$|€|£|₩|\b(price|cost|fee|amount|salary)\b|얼마|금액|가격|비용|요금|액수"),
    ),
    (
        "date",
        re.compile(
            r"\bwhen\b|what (year|date|day|month|time)|which year|언제|몇\s?년|연도|날짜|며칠|몇\s?월"
        ),
    ),
    ("money", re.compile(r"\b(costs?|fees|revenue|paid|charged|spent|worth)\b|매출|급여|연봉")),
    (
        "number",
        re.compile(r"how (many|old|long|far|tall|big|high|deep|often)|what number|몇|개수|인원|규모"),
    ),
    ("name", re.compile(r"^(?:q:\s*)?(who|whom|whose)\b|\b(who|whom|whose)\b|누구|누가|누군")),
)
_TRANSFER = re.compile(
    r"\b(pa(y|id|ys|ying)|sen[dt]|transferr?ed|transfer|wired?|gave|given|receiv\w*|charg\w*|refund\w*|"
    r"credit\w*|debit\w*|billed|invoiced)\b|지급|송금|지불|입금|결제|환불|납부",
    re.IGNORECASE,
)
_CHARGING = re.compile(r"\b(charg\w*|preauthori[sz]\w*|billed|invoiced|debited|withdrawn)\b", re.I)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9&'’.-]*")
_NAME = re.compile(r"\b[A-Z][a-zA-Z'’-]+|\b[A-Z]{2,}\b")
_NOT_ENTITIES = frozenset({"q", "i", "if", "what", "who", "when", "where", "which", "why", "how", "find"})
_KOREAN_NOUN_TAGS = ("NNP", "SL")
_ORDINAL = re.compile(r"^\d+(st|nd|rd|th|s)$", re.IGNORECASE)
_CONNECTORS = frozenset({"&", "of", "de", "and"})
_TITLES = ("Mr.", "Ms.", "Dr.", "Mrs.", "St.")


@dataclass(frozen=True)
class Entity:
    """A key entity of the question: its keyword terms and the role the question gives it."""

    text: str
    terms: frozenset[str]
    role: Role | None = None


@dataclass(frozen=True)
class Focus:
    """What the question asks for."""

    question: str
    answer_type: AnswerType | None
    entities: tuple[Entity, ...]
    question_terms: frozenset[str]


def answer_type(question: str) -> AnswerType | None:
    """The type of value the question asks for, or None when it asks for an explanation."""
    lowered = question.lower()
    for kind, cue in _TYPE_CUES:
        if cue.search(lowered):
            return kind
    return None


def _english_entities(question: str) -> list[str]:
    """Runs of capitalised, upper-case or letter-and-digit words; a sentence's first word counts
    only when it is upper-case or holds a digit ("Find the…" is not an entity, "IRS" is)."""
    found: list[str] = []
    run: list[re.Match[str]] = []
    for match in _WORD.finditer(question):
        word = match.group().rstrip(".'’")
        before = question[: match.start()].rstrip()
        first = not before or (before.endswith(("?", "!", ".", ":")) and not before.endswith(_TITLES))
        mixed = any(c.isdigit() for c in word) and any(c.isalpha() for c in word) and not _ORDINAL.match(word)
        marked = (word[:1].isupper() and (not first or (word.isupper() and len(word) > 1))) or mixed
        if word.lower() in _NOT_ENTITIES or (len(word) < 2 and not run):
            marked = False
        if marked or (word in _CONNECTORS and run):
            run.append(match)
            continue
        found.append(_span(question, run))
        run = []
    found.append(_span(question, run))
    return [e for e in found if e]


def _span(question: str, run: list[re.Match[str]]) -> str:
    """The question's text from the first to the last marked word of a run (connectors trimmed)."""
    while run and run[-1].group() in _CONNECTORS:
        run = run[:-1]
    return question[run[0].start() : run[-1].end()].rstrip(".'’") if run else ""


def _korean_entities(question: str) -> list[str]:
    if not re.search(r"[\uac00-\ud7a3]", question):
        return []
    return [t.form for t in kiwi().tokenize(question) if t.tag in _KOREAN_NOUN_TAGS and len(t.form) > 1]


def _role_in_question(question: str, entity: str) -> Role | None:
    """The role an explicit cue gives `entity` in a question about a transfer."""
    if not _TRANSFER.search(question):
        return None
    at = question.find(entity)
    if at < 0:
        return None
    before = question[:at].rstrip().lower()
    after = question[at + len(entity) :].lstrip()
    if re.search(r"\b(to|for)$", before) or after.startswith(("에게", "한테", "께")):
        return "payee"
    if re.search(r"\b(by|from)$", before) or after.startswith(
        ("로부터", "에게서", "한테서", "이 지급", "가 지급")
    ):
        return "payer"
    return None


def focus(question: str) -> Focus:
    """The answer type, key entities and their roles in `question`."""
    entities: list[Entity] = []
    for text in [*_english_entities(question), *_korean_entities(question)]:
        found = frozenset(terms(text)) - STOPWORDS
        if found and all(found != e.terms for e in entities):
            entities.append(Entity(text, found, _role_in_question(question, text)))
    return Focus(question, answer_type(question), tuple(entities), frozenset(terms(question)))


def values(kind: AnswerType, text: str) -> list[str]:
    """The values of `kind` written in `text` (names: capitalised words that are not stop words)."""
    if kind == "money":
        return [m.group().strip() for m in MONEY.finditer(text)]
    if kind == "date":
        return [m.group().strip() for m in DATE.finditer(text)]
    if kind == "number":
        return [m.group().strip() for m in NUMBER.finditer(text)]
    names = [m.group() for m in _NAME.finditer(text) if m.group().lower() not in STOPWORDS]
    if re.search(r"[\uac00-\ud7a3]", text):
        names += [t.form for t in kiwi().tokenize(text) if t.tag == "NNP"]
    return names


def new_values(kind: AnswerType, sentence: str, question: str) -> list[str]:
    """Values of `kind` in `sentence` that the question does not already contain."""
    asked = {v.lower() for v in values(kind, question)} | set(terms(question))
    out = []
    for value in values(kind, sentence):
        value_terms = set(terms(value))
        if value.lower() not in asked and not (value_terms and value_terms <= asked and kind == "name"):
            out.append(value)
    return out


def _party_after(text: str, end: int) -> str:
    """The named party (a capitalised word) right after position `end`, or ""."""
    match = re.match(r"\s*([A-Z][\w&'’.-]*)", text[end:])
    if not match or match.group(1).lower() in STOPWORDS:
        return ""
    return match.group(1)


def roles(sentence: str) -> list[tuple[str, Role]]:
    """Named parties and the role an explicit cue in the sentence gives them: "to X" (payee),
    "from X" (payer), "by X" (payee after a charging verb, payer after paying or sending)."""
    charging = bool(_CHARGING.search(sentence))
    out: list[tuple[str, Role]] = []
    for cue in re.finditer(r"\b(to|from|by)\b", sentence, re.IGNORECASE):
        party = _party_after(sentence, cue.end())
        if not party:
            continue
        word = cue.group(1).lower()
        if word == "to":
            out.append((party, "payee"))
        elif word == "from":
            out.append((party, "payer"))
        elif charging:
            out.append((party, "payee"))
        elif _TRANSFER.search(sentence):
            out.append((party, "payer"))
    for match in re.finditer(r"([가-힣A-Za-z0-9]+)(에게서|로부터|한테서|에게|한테)", sentence):
        out.append((match.group(1), "payer" if match.group(2) in ("에게서", "로부터", "한테서") else "payee"))
    return out


def contradicts(sentence: str, entity: Entity) -> bool:
    """Whether the sentence gives the entity the opposite role, or names another party in its role."""
    if entity.role is None:
        return False
    for party, role in roles(sentence):
        is_entity = bool(set(terms(party)) & entity.terms)
        if is_entity and role != entity.role:
            return True
        if not is_entity and role == entity.role:
            return True
    return False

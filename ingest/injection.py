"""Passages that give instructions to a language model, flagged when they are ingested.

Documents are data: the prompt fences them and tells the model to ignore instructions inside
them. A passage that nevertheless addresses a model (asks it to ignore its instructions, to
take on another persona, to reveal its prompt, to run code or to render a link or an image) is
flagged, so the answer shows its source as suspicious. The patterns name the attack classes of
public injection sets (BIPIA, garak, Giskard), in English and Korean; a question planted in a
document ("What is the capital of Brazil?") reads like any sentence and is left to the prompt
and the answer's verification.
"""

from __future__ import annotations

import re

_ENGLISH = (
    r"\b(ignore|disregard|forget|override|bypass)\b[^.\n]{0,40}\b(instructions?|prompts?|rules|directions|guidelines|"
    r"everything|above|previous|prior)\b",
    r"\b(system|initial|original|hidden|secret)\s+(prompt|instructions?|message)\b",
    r"\b(repeat|reveal|print|output|show|tell me|spell out)\b[^.\n]{0,40}\b(instructions|prompt|rules)\b"
    r"[^.\n]{0,40}\b(given|above|beginning|start|received)\b",
    r"\byou\s+(are|will be)\s+(now|going to|about to)\b",
    r"\b(from now on|starting now|new instructions?)\b",
    r"\b(act|behave|respond|pretend)\s+(as|like)\b[^.\n]{0,40}\b(ai|assistant|model|dan|chatbot|gpt)\b",
    r"\b(do anything now|developer mode|jailbreak|jailbroken)\b",
    r"\b(as an ai|language model)\b[^.\n]{0,40}\b(you|must|should)\b",
    r"\b(assistant|ai|model|chatbot)\b[^.\n]{0,30}\b(must|should|will)\b[^.\n]{0,30}"
    r"\b(reply|respond|answer|say|output)\b",
    r"\b(following|subsequent)\s+code\s+(block|snippet|excerpt|section)\b",
    r"\b(output|repeat|print|show|encode)\b[^.\n]{0,30}"
    r"\b(text above|above text|initial\w*|starting instructions|entire conversation|configuration)\b",
    r"\bI was instructed to\b|\bsystem_?prompt\b|\bjust (print|say)\b",
    r"<\|?(im_start|im_end|system|endoftext)\|?>|\[/?INST\]|###\s*(instruction|system)",
    r"!\[[^\]]*\]\(\s*https?://",
)
_KOREAN = (
    r"(지시|지침|규칙|프롬프트|배운\s*모든\s*것)[^.\n]{0,20}(무시해|무시하라|무시하고|잊어|따르지\s*마)",
    r"(시스템|초기|원래)\s*(프롬프트|지시|메시지)",
    r"(너는|당신은)\s*(이제|지금부터)",
    r"지금부터\s*(너|당신)",
    r"(역할|행세|흉내)[^.\n]{0,15}(수행하게 된다|수행해라|수행하라|해라|하라|몰입)",
    r"(응답|답변|대답)[^.\n]{0,20}(반드시|무조건)",
)
# Persona names are matched case-sensitively: "Dan" is a name, "DAN" a jailbreak.
_PERSONA = r"\[(DAN|STAN|GPT)\]|\b(DAN|STAN)(은|는|이라는|처럼|의|\s*:)"
_PATTERNS = re.compile("|".join(f"(?:{p})" for p in (*_ENGLISH, *_KOREAN)), re.IGNORECASE)
_PERSONAS = re.compile(_PERSONA)


def gives_instructions(text: str) -> bool:
    """Whether `text` addresses a language model with instructions (see the module docstring)."""
    return _PATTERNS.search(text) is not None or _PERSONAS.search(text) is not None

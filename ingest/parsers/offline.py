"""Keep `unstructured` offline and quiet.

Its text heuristics load the spaCy model `en_core_web_sm`, downloading it from the internet on
first use, and its partitioners report usage to the vendor. Sillok runs air-gapped, so before
`unstructured` is imported we switch telemetry off and hand it a local spaCy pipeline (blank
English with a rule-based sentencizer) built from the installed spaCy package. The heuristics
then fall back to length and punctuation; no text is lost, only element categories differ.
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

_ENV = {"DO_NOT_TRACK": "1", "SCARF_NO_ANALYTICS": "true", "UNSTRUCTURED_DISABLE_NOTICE": "1"}


@cache
def local_pipeline() -> Any:
    """The local spaCy pipeline handed to unstructured (built once per process)."""
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


@cache
def prepare_unstructured() -> None:
    """Disable telemetry and install the local spaCy pipeline; idempotent."""
    for key, value in _ENV.items():
        os.environ[key] = value
    from unstructured.nlp import tokenize

    tokenize._get_nlp = local_pipeline

"""Switch off every way the libraries under Sillok would contact their vendors.

Call `disable_phone_home()` first thing in every interpreter Sillok starts (the `sillok`
command and the parser child), before any heavy library is imported: several of these switches
are read once, when the library initialises, and setting them later does nothing.

The one that matters most is ONNX Runtime's. Its wheels on PyPI carry Microsoft's 1DS telemetry,
on by default on Linux: importing `onnxruntime` writes a device id and an event store under
`~/.cache/Microsoft/DeveloperTools/.onnxruntime/` and starts an uploader whose threads look up
`mobile.events.data.microsoft.com` about 9 s later, then again every few seconds. Any Sillok
process that imports it (the e5 embedder, the model conversion, and the parser child through
`unstructured_inference`) and lives longer than that would phone home; only
`ORT_DISABLE_TELEMETRY=1`, present before the import, prevents it
(`onnxruntime.disable_telemetry_events()` comes too late: the uploader is already running).

The switches are forced, not defaulted: Sillok never needs a model hub (models come from
wheels) and never sends usage data, whatever the surrounding environment says.
"""

from __future__ import annotations

import os

# Each switch with the library that reads it. Libraries with nothing to switch off were checked
# too: Celery and kombu, uvicorn, qdrant-client (it talks only to a configured server),
# Qdrant Edge, Tesseract, spaCy, tokenizers and torch contact nobody on their own.
PHONE_HOME_SWITCHES: dict[str, str] = {
    # ONNX Runtime: no 1DS uploader, no events, no persistent device id.
    "ORT_DISABLE_TELEMETRY": "1",
    # huggingface_hub (used by transformers, sentence-transformers and unstructured_inference):
    # no request to the Hub at all, and no telemetry if something asked anyway.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    # unstructured's library-load ping (Scarf) and any library honouring https://donottrack.sh.
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "true",
    # LangSmith tracing in langchain-core (the chunker's splitter, the evaluation baseline).
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
}


def disable_phone_home() -> None:
    """Set every switch in `PHONE_HOME_SWITCHES` in this process's environment (idempotent).

    Child processes inherit them. Libraries already imported keep what they read at import time,
    so this must run before they are imported.
    """
    os.environ.update(PHONE_HOME_SWITCHES)

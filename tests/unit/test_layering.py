"""The layering rules of the README's design section hold, and the checks that enforce them bite.

Import cycles are looked for on the full module graph, imports under `TYPE_CHECKING` included;
the import-linter contracts in `pyproject.toml` must pass, and must fail as soon as one
forbidden import is planted into the graph they check.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grimp
import pytest
from importlinter import configuration
from importlinter.application import use_cases
from importlinter.application.app_config import settings

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "ingest", "retrieval", "serving")


def cycles(graph: Any) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph.modules):
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [
            (root, iter(sorted(graph.find_modules_directly_imported_by(root))))
        ]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def test_no_module_imports_itself_through_others_not_even_for_types() -> None:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, exclude_type_checking_imports=False)
    assert cycles(graph) == []


def test_the_cycle_check_finds_a_planted_cycle() -> None:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, exclude_type_checking_imports=False)
    graph.add_import(importer="core.types", imported="core.documents")  # documents imports types
    assert any({"core.documents", "core.types"} <= set(group) for group in cycles(graph))


class _Planting:
    """import-linter's graph builder, plus one import the product does not have."""

    def __init__(self, real: Any, importer: str, imported: str) -> None:
        self._real, self._importer, self._imported = real, importer, imported

    def build(self, **options: Any) -> Any:
        graph = self._real.build(**options)
        graph.add_module(
            self._imported.split(".")[0], is_squashed=False
        ) if self._imported not in graph.modules else None
        graph.add_import(importer=self._importer, imported=self._imported)
        return graph


def _report(planted: tuple[str, str] | None, monkeypatch: pytest.MonkeyPatch) -> Any:
    configuration.configure()
    use_cases._register_built_in_contract_types()
    if planted is not None:
        monkeypatch.setattr(settings, "_config", {**settings._config})
        settings.configure(GRAPH_BUILDER=_Planting(settings.GRAPH_BUILDER, *planted))
    monkeypatch.chdir(ROOT)
    return use_cases.create_report(use_cases.read_user_options(str(ROOT / "pyproject.toml")), cache_dir=None)


def test_the_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not _report(None, monkeypatch).contains_failures


@pytest.mark.parametrize(
    "planted",
    [
        ("core.documents", "retrieval.retriever"),  # core depends on nothing of ours
        ("core.types", "serving.api.app"),
        ("retrieval.answer", "ingest.pipeline"),  # retrieval and ingest are independent
        ("ingest.pipeline", "serving.api.bootstrap"),  # no layer reaches up
        ("core.ports", "qdrant_client"),  # the vocabulary at the seams is ours
        ("core.settings", "fastapi"),
        ("ingest.pipeline", "fastapi"),  # no web framework below the entrances
        ("serving.api.documents", "ingest.pipeline"),  # the API queues work, never builds it
        ("serving.asking", "ingest.parsers.registry"),
        ("serving.worker.embedded", "serving.api.app"),  # a worker never builds the web app
        ("serving.bots.bootstrap", "serving.api.deps"),  # entrances are independent
    ],
    ids=lambda p: f"{p[0]}->{p[1]}",
)
def test_a_planted_forbidden_import_breaks_a_contract(
    planted: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _report(planted, monkeypatch).contains_failures

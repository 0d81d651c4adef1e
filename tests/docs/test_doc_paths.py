"""The README and docs/ point only at files that exist: relative links, and repository paths
written in backticks (``kvdr/foo.py``, ``infra/bicep/…``)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE = re.compile(r"`([^`\n]+)`")
TOP = ("kvdr", "triggers", "orchestrators", "activities", "engine", "emulator", "infra",
       "tests", "bench", "docs", "seed", r"\.ci")
# a path, optionally followed by a line (`:42`, `:42-50`) or a test (`::test_name`)
REPO_PATH = re.compile(rf"^((?:{'|'.join(TOP)})/[\w./-]*)(?::\d+(?:-\d+)?|::(\w+))?$")
PLACEHOLDER = re.compile(r"[{}<>*…]|\.\.\.")


def _links(text: str) -> list[str]:
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE) or target.startswith("#"):
            continue  # a URL (http:, mailto:, …) or an anchor in the same page
        targets.append(target.split("#", 1)[0])
    return [t for t in targets if t]


def _code_refs(text: str) -> list[tuple[str, str | None]]:
    """``(path, test name or None)`` for each backticked repository path."""
    return [(m.group(1), m.group(2)) for c in CODE.findall(text)
            if (m := REPO_PATH.match(c)) and not PLACEHOLDER.search(c)]


def _code_paths(text: str) -> list[str]:
    return [path for path, _ in _code_refs(text)]


def _missing_ref(path: str, test: str | None) -> bool:
    target = ROOT / path
    if not target.exists():
        return True
    return test is not None and f"def {test}(" not in target.read_text(encoding="utf-8")


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_and_backticked_repo_path_exists(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    missing = [f"link {t}" for t in _links(text) if not (doc.parent / t).exists()]
    missing += [f"path {p}{f'::{t}' if t else ''}" for p, t in _code_refs(text)
                if _missing_ref(p, t)]
    assert missing == [], f"{doc.relative_to(ROOT)} points at files that do not exist"


def test_the_scan_finds_links_and_paths() -> None:
    sample = ("see [events](events.md#lag), [site](https://x.y/), `kvdr/state/store.py`, "
              "`kvdr/{x}.py`, `tests/a.py::test_b`, `.ci/run`")
    assert _links(sample) == ["events.md"]
    assert _code_paths(sample) == ["kvdr/state/store.py", "tests/a.py", ".ci/run"]
    assert len(DOCS) > 3


def test_a_missing_file_or_test_name_is_reported() -> None:
    here = "tests/docs/test_doc_paths.py"
    assert _missing_ref("kvdr/no_such_module.py", None)
    assert _missing_ref(here, "test_that_does_not_exist")
    assert not _missing_ref(here, "test_a_missing_file_or_test_name_is_reported")
    assert not _missing_ref("kvdr/config/endpoints.py", None)

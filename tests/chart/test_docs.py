"""The chart README's values table is current and every value is documented."""

from __future__ import annotations

import re
import subprocess

from tests.chart.helm import CHART, helm_binary


def test_the_readme_values_table_is_what_helm_docs_generates_now() -> None:
    result = subprocess.run(
        [
            str(helm_binary("helm-docs")),
            "--dry-run",
            "--skip-version-footer",
            "--chart-search-root",
            ".",
        ],
        cwd=CHART,
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == (CHART / "README.md").read_text(), "stale README: run `make chart-docs`"


def test_every_key_in_values_yaml_has_a_helm_docs_comment() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    key = re.compile(r"^(\s*)([A-Za-z][A-Za-z0-9]*):")
    documented_parents: list[int] = []  # indents of documented keys whose children are free-form
    for number, line in enumerate(lines):
        match = key.match(line)
        if not match:
            continue
        indent = len(match.group(1))
        documented_parents = [parent for parent in documented_parents if parent < indent]
        if documented_parents:
            continue  # inside a documented object's default (e.g. a securityContext)
        previous = [text.strip() for text in lines[:number] if text.strip()][-3:]
        has_doc = any(text.startswith("# --") for text in previous) and previous[-1].startswith("#")
        following = [text for text in lines[number + 1 :] if text.strip()]
        next_indent = len(following[0]) - len(following[0].lstrip()) if following else 0
        nested = next_indent > indent
        if has_doc:
            documented_parents.append(indent)
        else:
            assert nested, f"values.yaml line {number + 1}: `{line.strip()}` has no `# --` comment"

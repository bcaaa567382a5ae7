"""Every Python code block of the documentation pages runs.

The Markdown doctest step (``pytest --doctest-glob="*.md" docs/*.md``) runs only the
``>>>`` lines of a page: a ```` ```python ```` block written as a plain script would be
shown on the site and never run. So a page's Python blocks are doctests (```` ```pycon ````,
as in docs/scale.md), a long real run is included from its example script
(```` ```{literalinclude} ```` ``../examples/...``), and every other block names its
language (```` ```bash ````, ```` ```text ````).
"""

import re

import pytest
from conftest import REPO

PAGES = sorted((REPO / "docs").glob("*.md"))
PYTHON = {"python", "py", "python3", "pycon", "ipython", "default"}
FENCE = re.compile(
    r"^(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)^(?P=fence)[ \t]*$", flags=re.M | re.S
)


def _blocks(text):
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield line, match["info"].strip(), match["body"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_python_blocks_are_doctests(page):
    problems = []
    for line, info, body in _blocks(page.read_text()):
        language = info.split()[0] if info else ""
        if language.startswith("{"):  # a MyST directive: {toctree}, {literalinclude}, ...
            continue
        if not language:
            problems.append(f"line {line}: a code block names no language (bash, text, pycon...)")
        elif language.lower() in PYTHON and not re.search(r"^>>> ", body, flags=re.M):
            problems.append(
                f"line {line}: a ```{language} block without >>> lines is never run; write it "
                "as a doctest, or include the example script it comes from with {literalinclude}"
            )
    assert not problems, f"docs/{page.name}:\n" + "\n".join(problems)


def test_the_rule_catches_a_plain_python_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# A page\n\n```python\nclf.fit(X, y)\n```\n\n```\nls\n```\n")
    with pytest.raises(AssertionError, match=r"line 3: a ```python block.*\n.*line 7: .*names no"):
        test_python_blocks_are_doctests(page)

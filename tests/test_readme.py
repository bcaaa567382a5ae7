"""The README's quickstart runs as written."""

import re

from conftest import REPO


def test_readme_quickstart_runs(capsys):
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README has no python quickstart"
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    accuracy = float(re.search(r"([\d.]+)% ±", out).group(1))
    assert accuracy > 60.0, out  # 200 episodes already lift 5-way 1-shot far above chance

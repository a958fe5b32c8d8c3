"""The README's Python examples run as written."""

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, capsys):
    block = BLOCKS[index]
    if "# readme: needs" in block:
        pytest.skip(block.split("# readme: needs", 1)[1].split("\n", 1)[0].strip())
    exec(compile(block, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})

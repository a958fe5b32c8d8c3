"""Run the examples in the public modules' docstrings."""

import doctest
import importlib
import pkgutil

import pytest

import toolgym


def _modules():
    names = []
    for pkg_name in ("toolgym", "toolgym.envs", "toolgym.agents", "toolgym.algorithms", "toolgym.benchmarks"):
        pkg = importlib.import_module(pkg_name)
        names.append(pkg_name)
        names.extend(info.name for info in pkgutil.walk_packages(pkg.__path__, prefix=pkg_name + "."))
    return sorted(set(names))


@pytest.mark.parametrize("name", _modules())
def test_docstring_examples(name):
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # an optional dependency is missing: that module's own tests cover it
        pytest.skip(f"{name}: {exc}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} docstring example(s) failed in {name}"


def test_package_exports():
    for name in toolgym.__all__:
        assert hasattr(toolgym, name)

import pytest

from toolgym.costs import CostModel, ToolCost
from toolgym.error import ConfigError

DEFAULTS = {"search": ToolCost(per_call=0.01, per_second=0.1, per_char=0.001, nominal_latency_s=0.5)}


def test_price_nominal_is_deterministic():
    m = CostModel.build(DEFAULTS)
    a = m.price("search", "x", 100, wall_s=0.123)
    b = m.price("search", "x", 100, wall_s=9.0)
    assert a == b
    assert a.latency_s == 0.5
    assert a.call_cost == 0.01 and a.latency_cost == pytest.approx(0.05) and a.output_cost == pytest.approx(0.1)
    assert a.cost == pytest.approx(0.16)


def test_price_measured_uses_wall_clock():
    m = CostModel.build(DEFAULTS, latency="measured")
    assert m.price("search", "x", 0, wall_s=2.0).latency_cost == pytest.approx(0.2)


def test_overrides():
    m = CostModel.build(DEFAULTS, {"search": 0.5})
    assert m.costs["search"].per_call == 0.5 and m.costs["search"].per_char == 0.001
    m = CostModel.build(DEFAULTS, {"search": {"per_char": 0}})
    assert m.costs["search"].per_char == 0 and m.costs["search"].per_call == 0.01


def test_bad_overrides_name_the_fix():
    with pytest.raises(ConfigError, match="Did you mean: search"):
        CostModel.build(DEFAULTS, {"serch": 1})
    with pytest.raises(ConfigError, match="per_call"):
        CostModel.build(DEFAULTS, {"search": {"per_cal": 1}})
    with pytest.raises(ConfigError, match="non-negative"):
        CostModel.build(DEFAULTS, weight=-1)
    with pytest.raises(ConfigError, match="nominal"):
        CostModel.build(DEFAULTS, latency="fast")
    with pytest.raises(ConfigError):
        ToolCost(per_call=-1)

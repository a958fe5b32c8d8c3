"""Suites as data: YAML with line numbers, structural validation, resolution against the registries."""

from __future__ import annotations

import gymnasium as gym
import pytest
from bench_helpers import ARITH, mini_suite

from toolgym.benchmarks.plan import Plan, reset_seed, resolve
from toolgym.benchmarks.suite import Suite, builtin_suites, load_suite, suite_hash
from toolgym.error import ConfigError


def test_yaml_syntax_error_names_line_and_column():
    text = "name: x\nenvs:\n  - id: [unclosed\npolicies: []\n"
    with pytest.raises(ConfigError, match=r"s\.yaml line 4, column 9: expected valid YAML"):
        Suite.from_yaml(text, source="s.yaml")


def test_unknown_key_names_line_valid_keys_and_close_match():
    text = "name: x\nenvs:\n  - id: toolgym/ToolChoice-Arithmetic-v0\npolicies:\n  - name: random\n    confg: {}\n"
    with pytest.raises(ConfigError) as info:
        Suite.from_yaml(text, source="s.yaml")
    msg = str(info.value)
    assert "s.yaml line 6: policies[0].confg: unknown key" in msg
    assert "'config'" in msg and "Did you mean: config?" in msg


def test_every_problem_is_listed_with_its_line():
    text = "name: bad name!\nseeds: [1, 1]\nepisodes: zero\nenvs: []\npolicies:\n  - label: x\n"
    with pytest.raises(ConfigError) as info:
        Suite.from_yaml(text, source="s.yaml")
    msg = str(info.value)
    assert "has 5 problems" in msg
    for fragment in (
        "line 1: name: expected letters",
        "line 2: seeds: expected distinct seeds",
        "line 3: episodes: expected a valid integer, got 'zero'",
        "line 4: envs: expected at least 1 item",
        "line 6: policies[0].name: missing",
    ):
        assert fragment in msg


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match="expected a mapping with name, envs and policies, got list"):
        Suite.from_yaml("- a\n- b\n", source="s.yaml")


def test_tasks_selection_is_validated():
    with pytest.raises(ConfigError, match=r"envs\[0\]\.tasks: expected \{first: N\} or \{sample: N, seed: S\}"):
        Suite.from_dict(mini_suite(envs=[{"id": ARITH, "tasks": {"frist": 3}}]))
    with pytest.raises(ConfigError, match="exactly one of 'first' or 'sample'"):
        Suite.from_dict(mini_suite(envs=[{"id": ARITH, "tasks": {"first": 3, "sample": 2}}]))


def test_duplicate_policy_labels_are_refused():
    with pytest.raises(ConfigError, match="both named 'random'; give each a distinct label"):
        Suite.from_dict(mini_suite(policies=[{"name": "random"}, {"name": "random", "config": {"seed": 3}}]))


def test_unknown_env_id_suggests_close_matches_with_line():
    text = "name: x\nenvs:\n  - id: toolgym/ToolChoice-Arithmetc-v0\npolicies:\n  - name: expert\n"
    with pytest.raises(ConfigError) as info:
        resolve(Suite.from_yaml(text, source="s.yaml"))
    msg = str(info.value)
    assert "s.yaml line 3: envs[0].id: expected a registered env id, got 'toolgym/ToolChoice-Arithmetc-v0'" in msg
    assert "Did you mean: toolgym/ToolChoice-Arithmetic-v0" in msg


def test_unknown_policy_and_option_name_the_valid_ones():
    with pytest.raises(
        ConfigError, match=r"policies\[0\]\.name: make_policy: expected a policy name.*Did you mean: random"
    ):
        resolve(Suite.from_dict(mini_suite(policies=[{"name": "randon"}])))
    text = (
        "name: x\nenvs:\n  - id: toolgym/ToolChoice-Arithmetic-v0\npolicies:\n  - name: random\n    config: {sede: 1}\n"
    )
    with pytest.raises(ConfigError) as info:
        resolve(Suite.from_yaml(text, source="s.yaml"))
    msg = str(info.value)
    assert "s.yaml line 6: policies[0].config" in msg and "expected options among ['seed'], got ['sede']" in msg
    assert "Did you mean: seed?" in msg


def test_unknown_env_kwarg_names_the_valid_ones():
    with pytest.raises(ConfigError) as info:
        resolve(Suite.from_dict(mini_suite(envs=[{"id": ARITH, "kwargs": {"dificulty": 3}}])))
    msg = str(info.value)
    assert "expected options among" in msg and "'difficulty'" in msg and "'cost_weight'" in msg
    assert "Did you mean: difficulty?" in msg


def test_resolve_builds_cells_keys_and_policy_seeds():
    plan = resolve(Suite.from_dict(mini_suite(seeds=[0, 5], episodes=2)))
    assert len(plan.cells) == 3 * 2 and plan.episodes == 12
    random_cells = [c for c in plan.cells if c.policy == "random"]
    assert [c.policy_config for c in random_cells] == [{"seed": 0}, {"seed": 5}]  # replicate seed passed on
    assert random_cells[0].config_hash == random_cells[1].config_hash  # the seed is not part of the config hash
    assert [e.reset_seed for e in random_cells[1].episodes] == [reset_seed(5, 0), reset_seed(5, 1)]
    keys = plan.keys()
    assert len(set(keys)) == len(keys) and keys[0] == f"{ARITH}|expert|0|0"
    assert Plan.from_dict(plan.to_dict()) == plan


def test_policy_filters_caps_and_explicit_seed():
    suite = mini_suite(
        episodes=4,
        max_steps=10,
        policies=[
            {"name": "expert", "families": ["search"]},
            {"name": "random", "config": {"seed": 9}, "episodes": 2, "seeds": [7], "max_steps": 3},
            {"name": "heuristic", "envs": ["toolgym/ToolChoice-*"]},
        ],
    )
    plan = resolve(Suite.from_dict(suite))
    assert plan.policies == ["random", "heuristic"]
    rnd = [c for c in plan.cells if c.policy == "random"]
    assert len(rnd) == 1 and rnd[0].seed == 7 and rnd[0].policy_config == {"seed": 9}
    assert len(rnd[0].episodes) == 2 and rnd[0].max_steps == 3


def test_task_selections(make_env):
    ids = list(make_env(ARITH).unwrapped.task_ids())
    first = resolve(Suite.from_dict(mini_suite(envs=[{"id": ARITH, "tasks": {"first": 4}}], seeds=[0])))
    assert [e.task_id for e in first.cells[0].episodes] == ids[:4]
    sample = resolve(Suite.from_dict(mini_suite(envs=[{"id": ARITH, "tasks": {"sample": 5, "seed": 1}}], seeds=[0])))
    picked = [e.task_id for e in sample.cells[0].episodes]
    assert len(set(picked)) == 5 and set(picked) <= set(ids)
    assert picked == sorted(picked, key=ids.index)  # kept in the env's order
    listed = resolve(Suite.from_dict(mini_suite(envs=[{"id": ARITH, "tasks": ["L1-3", "L5-9"]}], seeds=[0])))
    assert [e.task_id for e in listed.cells[0].episodes] == ["L1-3", "L5-9"]
    everything = resolve(Suite.from_dict(mini_suite(envs=[{"id": ARITH, "tasks": "all"}], seeds=[0])))
    assert len(everything.cells[0].episodes) == len(ids)


def test_optional_missing_env_is_skipped_with_a_reason():
    suite = mini_suite(envs=[{"id": ARITH}, {"id": "toolgym/NotThere-v0", "optional": True}])
    plan = resolve(Suite.from_dict(suite))
    assert plan.envs == [ARITH]
    assert plan.skipped == (("toolgym/NotThere-v0", "not registered in this installation"),)


def test_patterns_and_uncovered_families():
    ids = [i for i in gym.registry if i.startswith("toolgym/")]
    suite = mini_suite(envs=[{"id": ARITH}, {"id": "toolgym/*", "uncovered_families": True}], seeds=[0])
    plan = resolve(Suite.from_dict(suite))
    families = {}
    for cell in plan.cells:
        families.setdefault(cell.family, set()).add(cell.env)
    assert all(len(envs) == 1 for envs in families.values())  # one env per family
    assert families["tools"] == {ARITH}
    assert len(plan.envs) <= len(ids)
    with pytest.raises(ConfigError, match="apply only to a pattern"):
        Suite.from_dict(mini_suite(envs=[{"id": ARITH, "uncovered_families": True}]))


def test_nothing_runnable_is_an_error():
    with pytest.raises(ConfigError, match="expected at least one runnable env, got none"):
        resolve(Suite.from_dict(mini_suite(envs=[{"id": "toolgym/NotThere-v0", "optional": True}])))
    with pytest.raises(ConfigError, match="expected at least one env x policy pair"):
        resolve(Suite.from_dict(mini_suite(policies=[{"name": "expert", "families": ["nope"]}])))


def test_hash_is_stable_and_sensitive():
    a = Suite.from_dict(mini_suite())
    assert suite_hash(a) == suite_hash(Suite.from_yaml(a.to_yaml()))
    assert suite_hash(a) != suite_hash(Suite.from_dict(mini_suite(episodes=4)))


def test_with_llm_replaces_model_of_llm_policies_only():
    s = Suite.from_dict(mini_suite(policies=[{"name": "expert"}, {"name": "react", "config": {"llm": "tiny"}}]))
    t = s.with_llm("openai:gpt-4o-mini")
    assert t.policies[0].config == {} and t.policies[1].config == {"llm": "openai:gpt-4o-mini"}
    assert suite_hash(s) != suite_hash(t)


def test_load_suite_sources(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean: smoke?"):
        load_suite("smok")
    with pytest.raises(ConfigError, match="expected an existing YAML file"):
        load_suite(str(tmp_path / "missing.yaml"))
    assert load_suite(mini_suite()).name == "mini"


@pytest.mark.parametrize("name", sorted(builtin_suites()))
def test_builtin_suites_validate_and_resolve_or_say_what_is_missing(name):
    suite = load_suite(name)
    assert suite.description
    try:
        plan = resolve(suite)
    except ConfigError as exc:  # a paper suite whose env or data is not here
        assert name.startswith("paper"), exc
        assert "registered env id" in str(exc) or "needs data" in str(exc) or "runnable env" in str(exc)
        return
    assert plan.episodes > 0


def test_quick_and_smoke_cover_every_registered_family():
    from toolgym.registry import describe

    registered = {describe(i).family for i in gym.registry if i.startswith("toolgym/") and describe(i).status.available}
    for name in ("smoke", "quick"):
        plan = resolve(load_suite(name))
        assert set(plan.families) == registered, name
    quick = resolve(load_suite("quick"))
    assert {"expert", "random", "heuristic", "react-tiny"} <= set(quick.policies)

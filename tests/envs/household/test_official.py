"""Direct comparison with ALFWorld's official engine (alfworld 0.4.2), on a sample of games (slow).

These tests run the official TextWorld/PDDL engine in its worker process and compare, step by step, its
observation, admissible commands and ``won`` flag with the native engine's - on the handwritten kitchen, on
real games of all three splits under a mixed random/expert policy with bad commands thrown in, and on
procedural households written out as PDDL.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from toolgym.envs.household import engine as E
from toolgym.envs.household.expert import command, plan
from toolgym.envs.household.games import game_file, game_files, load_split, load_world
from toolgym.envs.household.generator import DIFFICULTIES, TASK_TYPES, generate
from toolgym.envs.household.official import ALFWorldOfficialEnv, OfficialEngine, official_available
from toolgym.envs.household.pddl import read_game, write_problem
from toolgym.envs.household.world import World

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not official_available()[0], reason="alfworld is not installed (extra 'alfworld')"),
    pytest.mark.skipif(not game_files("valid_unseen"), reason="ALFWorld games missing (TOOLGYM_DATA_DIR)"),
]


def norm(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def engine():
    eng = OfficialEngine(accelerate=True)
    yield eng
    eng.close()


@pytest.fixture(scope="module")
def template():
    return game_file(load_split("valid_unseen")[0])


def compare(eng, key, data, world, commands=None, *, steps=30, seed=0):
    """Play the same commands on both engines; return the number of compared steps."""
    reply = eng.reset(key, data)
    state = world.initial
    assert norm(reply.feedback) == norm(E.intro(world, state))
    rng = np.random.default_rng(seed)
    names = list(world.obj_names) + list(world.rec_names)
    n = 0
    for k in range(len(commands) if commands is not None else steps):
        adm = E.admissible(world, state)
        assert list(reply.admissible) == adm, (key, k)
        if commands is not None:
            cmd = commands[k]
        else:
            u = rng.random()
            if u < 0.35:
                p = plan(world, state)
                cmd = command(world, p[0]) if p else "look"
            elif u < 0.85:
                cmd = adm[int(rng.integers(len(adm)))]
            else:  # a bad command: unknown pairing, wrong preposition, typo
                a, b = names[int(rng.integers(len(names)))], names[int(rng.integers(len(names)))]
                cmd = [f"take {a} from {b}", f"put {a} in {b}", f"examine {a}", f"open {a}", f"go to {a}x"][
                    int(rng.integers(5))
                ]
        reply = eng.step(cmd)
        act = E.options(world, state).get(cmd)
        text = E.NOTHING_HAPPENS
        if act is not None:
            state, text = E.apply(world, state, act)
        assert norm(text) == norm(reply.feedback), (key, k, cmd)
        assert reply.won == world.won(state), (key, k, cmd)
        n += 1
        if reply.won:
            break
    return n


def test_kitchen_transcript(kitchen_file, kitchen_transcript, template):
    data = kitchen_file(template=template)
    world = World.compile(read_game(data))
    eng = OfficialEngine(accelerate=False)  # the engine exactly as ALFWorld ships it
    try:
        reply = eng.reset("kitchen", data)
        state = world.initial
        assert reply.feedback == E.intro(world, state)
        for cmd, expected in kitchen_transcript:
            reply = eng.step(cmd)
            act = E.options(world, state).get(cmd)
            if act is not None:
                state, _ = E.apply(world, state, act)
            assert reply.feedback == expected, cmd
            assert list(reply.admissible) == E.admissible(world, state), cmd
        assert reply.won and world.won(state)
    finally:
        eng.close()


@pytest.mark.parametrize("split, count", [("valid_unseen", 4), ("valid_seen", 2), ("train", 2)])
def test_real_games_step_by_step(engine, split, count):
    if not game_files(split):
        pytest.skip(f"ALFWorld {split} games missing")
    records = load_split(split)
    picks = np.random.default_rng(len(split)).choice(len(records), size=count, replace=False)
    for i in picks:
        rec = records[int(i)]
        assert compare(engine, rec.task_id, game_file(rec), load_world(rec), steps=25, seed=int(i)) > 0


def test_procedural_households_play_the_same_on_the_official_engine(engine, kitchen_file, template):
    for i, task_type in enumerate(TASK_TYPES):
        spec = generate(task_type, 40 + i, DIFFICULTIES[1 + i % 3])
        data = kitchen_file(problem=write_problem(spec), task=spec.task, template=template)
        world = World.compile(read_game(data))
        assert world.initial == World.compile(spec).initial
        compare(engine, f"procedural-{i}", data, world, steps=20, seed=i)


def test_accelerated_worker_answers_exactly_like_the_plain_one(template):
    rec = load_split("valid_unseen")[7]
    world = load_world(rec)
    state, cmds = world.initial, []
    rng = np.random.default_rng(1)
    for _ in range(8):
        adm = E.admissible(world, state)
        cmds.append(adm[int(rng.integers(len(adm)))])
        state, _ = E.apply(world, state, E.options(world, state)[cmds[-1]])
    replies = []
    for accelerate in (False, True):
        eng = OfficialEngine(accelerate=accelerate)
        try:
            out = [eng.reset(rec.task_id, game_file(rec))]
            out += [eng.step(c) for c in cmds]
            out.append(eng.replay(rec.task_id, game_file(rec), cmds[:5]))
            replies.append(out)
        finally:
            eng.close()
    assert replies[0] == replies[1]


def test_official_env_api_expert_and_snapshots():
    env = gym.make("toolgym/ALFWorld-Official-v0", task_types=["pick_heat_then_place_in_recep"])
    base = env.unwrapped
    assert isinstance(base, ALFWorldOfficialEnv) and not base.picklable
    try:
        obs, info = env.reset(seed=0)
        native = gym.make("toolgym/ALFWorld-v0", task_types=["pick_heat_then_place_in_recep"])
        nobs, ninfo = native.reset(seed=0)
        assert (obs, info["admissible_actions"], info["task_id"]) == (
            nobs,
            ninfo["admissible_actions"],
            ninfo["task_id"],
        )
        assert env.step("think: where is it?")[0] == "OK."
        assert env.step("Fly away")[0] == "Nothing happens."
        snap, key = base.get_state(), base.state_key()
        first = env.step(base.expert_action())
        base.set_state(snap)
        assert base.state_key() == key
        assert env.step(base.expert_action()) == first  # replayed in the worker, same answer
        done = False
        while not done:
            _, reward, terminated, truncated, info = env.step(base.expert_action())
            done = terminated or truncated
        assert terminated and info["success"] and reward == 1.0
        with pytest.raises(TypeError):
            import pickle

            pickle.dumps(base)
    finally:
        env.close()
    assert base.engine._proc is None

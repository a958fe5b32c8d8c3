"""The native engine on a small handwritten game: commands, effects, wording, admissible commands.

The kitchen's transcript (conftest.py) is the official engine's output (alfworld 0.4.2), step by step;
tests/envs/household/test_official.py replays it there.
"""

from __future__ import annotations

import pytest

from toolgym.envs.household import engine as E
from toolgym.envs.household.world import demangle


def play(world, commands):
    state = world.initial
    out = []
    for cmd in commands:
        act = E.options(world, state).get(cmd)
        if act is None:
            out.append(E.NOTHING_HAPPENS)
        else:
            state, text = E.apply(world, state, act)
            out.append(text)
    return state, out


def test_intro_and_first_admissible_commands(kitchen):
    assert E.intro(kitchen, kitchen.initial) == (
        "-= Welcome to TextWorld, ALFRED! =-\n\nYou are in the middle of a room. Looking quickly around you, you see "
        "a cabinet 2, a cabinet 1, a countertop 1, a desk 1, a fridge 1, a microwave 1, and a sinkbasin 1.\n\n"
        "Your task is to: put a hot mug in cabinet."
    )
    assert E.admissible(kitchen, kitchen.initial) == [
        "go to cabinet 1",
        "go to cabinet 2",
        "go to countertop 1",
        "go to desk 1",
        "go to fridge 1",
        "go to microwave 1",
        "go to sinkbasin 1",
        "inventory",
        "look",
    ]


def test_transcript_matches_the_official_wording(kitchen, kitchen_transcript):
    state, out = play(kitchen, [c for c, _ in kitchen_transcript])
    for (cmd, expected), got in zip(kitchen_transcript, out):
        assert got == expected, cmd
    assert kitchen.won(state)


def test_won_only_at_the_end(kitchen, kitchen_transcript):
    cmds = [c for c, _ in kitchen_transcript]
    state = kitchen.initial
    for cmd in cmds[:-1]:
        act = E.options(kitchen, state).get(cmd)
        if act is not None:
            state, _ = E.apply(kitchen, state, act)
        assert not kitchen.won(state)


def test_admissible_commands_are_sorted_and_complete(kitchen):
    state, _ = play(kitchen, ["go to cabinet 1", "open cabinet 2", "take knife 1 from cabinet 2"])
    adm = E.admissible(kitchen, state)
    assert adm == sorted(adm) and len(adm) == len(set(adm))
    # at a location shared by two cabinets: both examinable, neither reachable by "go to"
    assert {"examine cabinet 1", "examine cabinet 2", "examine knife 1", "close cabinet 2", "open cabinet 1"} <= set(
        adm
    )
    assert "go to cabinet 1" not in adm and "go to cabinet 2" not in adm
    # holding something: no take; put only where the receptacle is open and accepts it
    assert not any(a.startswith("take ") for a in adm)
    assert "put knife 1 in/on cabinet 2" in adm and "put knife 1 in/on cabinet 1" not in adm


@pytest.mark.parametrize(
    "bad",
    [
        "take mug 1 from countertop 1",  # not there yet
        "go to fridge",  # no number
        "go to fridge 9",  # unknown receptacle
        "open countertop 1",  # not openable, not here
        "put mug 1 on countertop 1",  # wrong preposition
        "Go to fridge 1",  # the engine itself is case-sensitive (the envs normalise first)
        "take a mug",
        "eat apple 1",
        "",
        "examine mug 1",  # objects are examined only while held
    ],
)
def test_bad_commands_change_nothing(kitchen, bad):
    state = kitchen.initial
    assert E.options(kitchen, state).get(bad) is None


def test_state_is_immutable_and_hashable(kitchen):
    s0 = kitchen.initial
    s1, _ = play(kitchen, ["go to countertop 1", "take mug 1 from countertop 1"])
    assert s0 == kitchen.initial and s1 != s0
    assert hash(s1) == hash(play(kitchen, ["go to countertop 1", "take mug 1 from countertop 1"])[0])
    assert isinstance(s1.canonical(), list)


def test_demangler_numbers_the_first_sorted_id_highest():
    names = demangle(["cabinet_bar__plus_02", "cabinet_bar__minus_01", "sink_bar__plus_01_bar_sinkbasin", "agent1"])
    assert names == {
        "agent1": "agent1 ",
        "cabinet_bar__minus_01": "cabinet 2",
        "cabinet_bar__plus_02": "cabinet 1",
        "sink_bar__plus_01_bar_sinkbasin": "sinkbasin 1",
    }

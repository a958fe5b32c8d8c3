"""Fixtures for the household tests: a small handwritten ALFWorld game and its official transcript."""

# ruff: noqa: E501 - PDDL text with ALFRED's long ids

from __future__ import annotations

import json

import pytest

from toolgym.envs.household.pddl import read_game
from toolgym.envs.household.world import World

KITCHEN = """
(define (problem tiny_kitchen)
(:domain alfred)
(:objects
agent1 - agent
MugType - otype
AppleType - otype
KnifeType - otype
DeskLampType - otype
CounterTopType - rtype
CabinetType - rtype
MicrowaveType - rtype
FridgeType - rtype
SinkBasinType - rtype
DeskType - rtype
Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00 - object
Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00 - object
Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20 - object
Knife_bar__minus_01_dot_10_bar__plus_00_dot_50_bar__minus_02_dot_00 - object
DeskLamp_bar__plus_02_dot_00_bar__plus_00_dot_80_bar__plus_02_dot_00 - object
CounterTop_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00 - receptacle
Cabinet_bar__minus_01_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00 - receptacle
Cabinet_bar__plus_02_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00 - receptacle
Microwave_bar__plus_00_dot_10_bar__plus_01_dot_20_bar__plus_01_dot_00 - receptacle
Fridge_bar__plus_00_dot_50_bar__plus_00_dot_00_bar__minus_01_dot_00 - receptacle
Sink_bar__minus_02_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00_bar_SinkBasin - receptacle
Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__plus_02_dot_00 - receptacle
loc_bar_0_bar_0_bar_0_bar_0 - location
loc_bar_1_bar_1_bar_0_bar_30 - location
loc_bar__minus_2_bar__minus_4_bar_2_bar_45 - location
loc_bar_0_bar_2_bar_1_bar_15 - location
loc_bar_1_bar__minus_2_bar_3_bar_60 - location
loc_bar__minus_4_bar_2_bar_0_bar_30 - location
loc_bar_4_bar_4_bar_1_bar_0 - location
)
(:init
(receptacleType CounterTop_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00 CounterTopType)
(receptacleType Cabinet_bar__minus_01_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00 CabinetType)
(receptacleType Cabinet_bar__plus_02_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00 CabinetType)
(receptacleType Microwave_bar__plus_00_dot_10_bar__plus_01_dot_20_bar__plus_01_dot_00 MicrowaveType)
(receptacleType Fridge_bar__plus_00_dot_50_bar__plus_00_dot_00_bar__minus_01_dot_00 FridgeType)
(receptacleType Sink_bar__minus_02_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00_bar_SinkBasin SinkBasinType)
(receptacleType Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__plus_02_dot_00 DeskType)
(objectType Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00 MugType)
(objectType Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00 AppleType)
(objectType Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20 AppleType)
(objectType Knife_bar__minus_01_dot_10_bar__plus_00_dot_50_bar__minus_02_dot_00 KnifeType)
(objectType DeskLamp_bar__plus_02_dot_00_bar__plus_00_dot_80_bar__plus_02_dot_00 DeskLampType)
(canContain CounterTopType MugType)
(canContain CounterTopType AppleType)
(canContain CounterTopType KnifeType)
(canContain CabinetType MugType)
(canContain CabinetType KnifeType)
(canContain MicrowaveType MugType)
(canContain MicrowaveType AppleType)
(canContain FridgeType MugType)
(canContain FridgeType AppleType)
(canContain SinkBasinType MugType)
(canContain SinkBasinType AppleType)
(canContain SinkBasinType KnifeType)
(canContain DeskType MugType)
(pickupable Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00)
(pickupable Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00)
(pickupable Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20)
(pickupable Knife_bar__minus_01_dot_10_bar__plus_00_dot_50_bar__minus_02_dot_00)
(isReceptacleObject Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00)
(openable Cabinet_bar__minus_01_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00)
(openable Cabinet_bar__plus_02_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00)
(openable Microwave_bar__plus_00_dot_10_bar__plus_01_dot_20_bar__plus_01_dot_00)
(openable Fridge_bar__plus_00_dot_50_bar__plus_00_dot_00_bar__minus_01_dot_00)
(atLocation agent1 loc_bar_0_bar_0_bar_0_bar_0)
(cleanable Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00)
(cleanable Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00)
(cleanable Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20)
(heatable Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00)
(heatable Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00)
(heatable Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20)
(coolable Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00)
(coolable Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00)
(coolable Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20)
(sliceable Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00)
(sliceable Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20)
(toggleable DeskLamp_bar__plus_02_dot_00_bar__plus_00_dot_80_bar__plus_02_dot_00)
(isCool Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00)
(inReceptacle Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00 CounterTop_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00)
(inReceptacle Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20 CounterTop_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00)
(inReceptacle Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00 Fridge_bar__plus_00_dot_50_bar__plus_00_dot_00_bar__minus_01_dot_00)
(inReceptacle Knife_bar__minus_01_dot_10_bar__plus_00_dot_50_bar__minus_02_dot_00 Cabinet_bar__minus_01_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00)
(inReceptacle DeskLamp_bar__plus_02_dot_00_bar__plus_00_dot_80_bar__plus_02_dot_00 Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__plus_02_dot_00)
(receptacleAtLocation CounterTop_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00 loc_bar_1_bar_1_bar_0_bar_30)
(receptacleAtLocation Cabinet_bar__minus_01_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00 loc_bar__minus_2_bar__minus_4_bar_2_bar_45)
(receptacleAtLocation Cabinet_bar__plus_02_dot_00_bar__plus_00_dot_50_bar__minus_02_dot_00 loc_bar__minus_2_bar__minus_4_bar_2_bar_45)
(receptacleAtLocation Microwave_bar__plus_00_dot_10_bar__plus_01_dot_20_bar__plus_01_dot_00 loc_bar_0_bar_2_bar_1_bar_15)
(receptacleAtLocation Fridge_bar__plus_00_dot_50_bar__plus_00_dot_00_bar__minus_01_dot_00 loc_bar_1_bar__minus_2_bar_3_bar_60)
(receptacleAtLocation Sink_bar__minus_02_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00_bar_SinkBasin loc_bar__minus_4_bar_2_bar_0_bar_30)
(receptacleAtLocation Desk_bar__plus_02_dot_00_bar__plus_00_dot_00_bar__plus_02_dot_00 loc_bar_4_bar_4_bar_1_bar_0)
(objectAtLocation Mug_bar__plus_01_dot_00_bar__plus_00_dot_90_bar__plus_01_dot_00 loc_bar_1_bar_1_bar_0_bar_30)
(objectAtLocation Apple_bar__minus_00_dot_50_bar__plus_00_dot_90_bar__plus_01_dot_20 loc_bar_1_bar_1_bar_0_bar_30)
(objectAtLocation Apple_bar__plus_00_dot_50_bar__plus_01_dot_00_bar__minus_01_dot_00 loc_bar_1_bar__minus_2_bar_3_bar_60)
(objectAtLocation Knife_bar__minus_01_dot_10_bar__plus_00_dot_50_bar__minus_02_dot_00 loc_bar__minus_2_bar__minus_4_bar_2_bar_45)
(objectAtLocation DeskLamp_bar__plus_02_dot_00_bar__plus_00_dot_80_bar__plus_02_dot_00 loc_bar_4_bar_4_bar_1_bar_0)
)
(:goal
    (and
        (exists (?r - receptacle)
            (exists (?o - object)
                (and
                    (heatable ?o)
                    (objectType ?o MugType)
                    (receptacleType ?r CabinetType)
                    (isHot ?o)
                    (inReceptacle ?o ?r)
                )
            )
        )
    )
)
)
"""

TASK = "put a hot mug in cabinet."


def task_rule(task: str) -> str:
    """A grammar's ``task`` rule for a task sentence."""
    return '"task": [ { "rhs": ' + json.dumps("Your task is to: " + task) + " } ]"


def game_file(problem: str = KITCHEN, task: str = TASK, template: dict | None = None) -> dict:
    """A ``game.tw-pddl`` mapping; with ``template`` (a real game file) its domain and grammar are used, so
    the official engine can play it."""
    if template is None:
        return {"pddl_domain": "", "grammar": task_rule(task), "pddl_problem": problem, "solvable": True}
    from toolgym.envs.household.games import _task_rule

    grammar = template["grammar"].replace(_task_rule(template["grammar"]), task_rule(task))
    return {"pddl_domain": template["pddl_domain"], "grammar": grammar, "pddl_problem": problem, "solvable": True}


#: The kitchen played command by command, with the official engine's answers (alfworld 0.4.2).
TRANSCRIPT = [
    ("go to cabinet 1", "You arrive at loc 2. The cabinet 1 is closed."),
    ("look", "You are facing the cabinet 2, and cabinet 1. Next to it, you see nothing."),
    ("examine cabinet 2", "The cabinet 2 is closed."),
    ("take knife 1 from cabinet 2", "Nothing happens."),
    ("open cabinet 2", "You open the cabinet 2. The cabinet 2 is open. In it, you see a knife 1."),
    ("take knife 1 from cabinet 2", "You pick up the knife 1 from the cabinet 2."),
    ("open cabinet 1", "You open the cabinet 1. The cabinet 1 is open. In it, you see nothing."),
    ("put knife 1 in/on cabinet 1", "You put the knife 1 in/on the cabinet 1."),
    ("look", "You are facing the cabinet 2, and cabinet 1. Next to it, you see a knife 1."),
    ("take knife 1 from cabinet 1", "You pick up the knife 1 from the cabinet 1."),
    ("inventory", "You are carrying: a knife 1."),
    ("examine knife 1", "There's nothing special about knife 1."),
    ("go to countertop 1", "You arrive at loc 5. On the countertop 1, you see a apple 2, and a mug 1."),
    ("slice apple 2 with knife 1", "You sliced the apple 2 with the knife 1."),
    ("examine apple 2", "Nothing happens."),
    ("slice apple 1 with knife 1", "Nothing happens."),
    ("put knife 1 in countertop 1", "Nothing happens."),
    ("put knife 1 in/on countertop 1", "You put the knife 1 in/on the countertop 1."),
    ("take mug 1 from countertop 1", "You pick up the mug 1 from the countertop 1."),
    ("examine mug 1", "This is a normal mug 1. In it, you see nothing."),
    ("go to microwave 1", "You arrive at loc 6. The microwave 1 is closed."),
    ("heat mug 1 with microwave 1", "You heat the mug 1 using the microwave 1."),
    ("examine mug 1", "This is a normal mug 1. In it, you see nothing."),
    ("go to countertop 1", "You arrive at loc 5. On the countertop 1, you see a apple 2, and a knife 1."),
    ("put mug 1 in/on countertop 1", "You put the mug 1 in/on the countertop 1."),
    ("take apple 2 from countertop 1", "You pick up the apple 2 from the countertop 1."),
    ("go to microwave 1", "You arrive at loc 6. The microwave 1 is closed."),
    ("heat apple 2 with microwave 1", "You heat the apple 2 using the microwave 1."),
    ("examine apple 2", "This is a hot sliced apple 2."),
    ("go to fridge 1", "You arrive at loc 4. The fridge 1 is closed."),
    ("cool apple 2 with fridge 1", "You cool the apple 2 using the fridge 1."),
    ("examine apple 2", "This is a cool sliced apple 2."),
    ("open fridge 1", "You open the fridge 1. The fridge 1 is open. In it, you see a apple 1."),
    ("put apple 2 in/on fridge 1", "You put the apple 2 in/on the fridge 1."),
    ("take apple 1 from fridge 1", "You pick up the apple 1 from the fridge 1."),
    ("examine apple 1", "This is a cold apple 1."),
    ("go to sinkbasin 1", "You arrive at loc 1. On the sinkbasin 1, you see nothing."),
    ("clean apple 1 with sinkbasin 1", "You clean the apple 1 using the sinkbasin 1."),
    ("examine apple 1", "This is a cool and clean apple 1."),
    ("go to desk 1", "You arrive at loc 3. On the desk 1, you see a desklamp 1."),
    ("examine desklamp 1", "Nothing happens."),
    ("use desklamp 1", "You turn on the desklamp 1."),
    ("use desklamp 1", "You turn on the desklamp 1."),
    ("go to countertop 1", "You arrive at loc 5. On the countertop 1, you see a knife 1, and a mug 1."),
    ("put apple 1 in/on countertop 1", "You put the apple 1 in/on the countertop 1."),
    ("take mug 1 from countertop 1", "You pick up the mug 1 from the countertop 1."),
    ("go to cabinet 2", "You arrive at loc 2. The cabinet 2 is open. In it, you see nothing."),
    ("put mug 1 in/on cabinet 2", "You put the mug 1 in/on the cabinet 2."),
]


@pytest.fixture
def kitchen_transcript() -> list[tuple[str, str]]:
    """The kitchen's reference transcript."""
    return list(TRANSCRIPT)


@pytest.fixture
def kitchen() -> World:
    """The handwritten kitchen, compiled."""
    return World.compile(read_game(game_file()))


@pytest.fixture
def kitchen_file():
    """Build game files from PDDL problems (see ``game_file``)."""
    return game_file

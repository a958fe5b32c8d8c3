from fractions import Fraction

import gymnasium as gym
import pytest

from toolgym.envs.arithmetic import LEVELS, ArithmeticEnv, make_question
from toolgym.envs.calculator import CalcError, evaluate, format_number, parse_number


def test_python_example_from_the_issue():
    env = gym.make("toolgym/ToolChoice-Arithmetic-v0")
    obs, info = env.reset(seed=0)
    assert obs.startswith("Question: What is") and info["task_id"].startswith("L")


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_questions_are_deterministic_and_correct(level):
    for n in range(50):
        expr, answer = make_question(level, n)
        assert make_question(level, n) == (expr, answer)
        assert evaluate(expr) == answer
        assert answer.denominator == 1 and answer >= 0 or level == 5


def test_levels_get_harder():
    sizes = [max(len(str(make_question(lv, n)[1])) for n in range(50)) for lv in sorted(LEVELS)]
    assert sizes == sorted(sizes) and sizes[0] <= 2 and sizes[-1] >= 5


@pytest.mark.parametrize(
    "expr, value",
    [
        ("4837 × 219", 1059303),
        ("4,837 x 219", 1059303),
        ("(12 + 5) * 3", 51),
        ("2^10", 1024),
        ("7 ÷ 2", Fraction(7, 2)),
        ("−3 − 4", -7),
        ("17 // 5 + 17 % 5", 5),
        ("0.1 + 0.2", Fraction(3, 10)),
    ],
)
def test_calculator(expr, value):
    assert evaluate(expr) == value


@pytest.mark.parametrize(
    "expr, msg",
    [
        ("", "empty"),
        ("__import__('os').system('ls')", "only numbers"),
        ("1/0", "division by zero"),
        ("9**9**9", "exceeds"),
        ("2 +", "cannot parse"),
        ("x" * 300, "limit"),
        ("[1,2]", "only numbers"),
        ("True + 1", "only numbers"),
    ],
)
def test_calculator_rejects(expr, msg):
    with pytest.raises(CalcError, match=msg):
        evaluate(expr)


def test_answer_parsing_and_format():
    assert parse_number("1,059,303") == 1059303
    assert parse_number("The answer is -12.") == -12
    assert parse_number("3.50") == Fraction(7, 2)
    assert parse_number("7/2") == Fraction(7, 2)
    assert parse_number("no idea") is None
    assert format_number(Fraction(1, 3)) == "0.333333333333"


def test_finish_scoring_and_feedback():
    env = ArithmeticEnv()
    env.reset(options={"task_id": "L4-0"})
    answer = env.expert_action()[7:-1]
    _, r, term, _, info = env.step(f"finish[{int(answer):,}]")
    assert r == 1.0 and term and info["success"] and info["score"] == 1.0
    env.reset(options={"task_id": "L4-0"})
    obs, r, term, _, info = env.step("finish[12]")
    assert r == 0.0 and term and not info["success"] and obs == "Episode finished, reward = False"
    assert "incorrect" in info["feedback"] and answer not in info["feedback"]
    env.reset(options={"task_id": "L4-0"})
    _, _, term, _, info = env.step("finish[lots]")
    assert term and not info["success"] and "not a number" in info["feedback"]


def test_calc_errors_are_invalid_observations():
    env = ArithmeticEnv()
    env.reset(seed=0)
    obs, reward, term, _, info = env.step("calc[import os]")
    assert obs.startswith("Error:") and info["invalid_action"] and not term
    assert reward == pytest.approx(-0.1)  # the call is still charged


def test_difficulty_subset_and_task_ids():
    env = ArithmeticEnv(difficulty=(1, 2))
    ids = env.task_ids()
    assert len(ids) == 400 and ids[0] == "L1-0"
    levels = {env.reset(seed=s)[1]["difficulty"] for s in range(40)}
    assert levels == {1, 2}


def test_tool_choice_tradeoff():
    """Answering directly is optimal when right; using calc costs exactly the tool price."""
    env = ArithmeticEnv()
    env.reset(options={"task_id": "L5-9"})
    expr = env._expression
    _, r1, *_ = env.step(f"calc[{expr}]")
    _, r2, *_ = env.step(f"finish[{env.observe()}]")
    assert r1 + r2 == pytest.approx(0.9)

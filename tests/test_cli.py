from typer.testing import CliRunner

from toolgym.benchmarks.cli import app

runner = CliRunner()


def test_envs_lists_every_id():
    result = runner.invoke(app, ["envs"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "toolgym/ToolChoice-Arithmetic-v0" in result.output
    assert "procedural" in result.output


def test_play_an_episode_with_hint():
    result = runner.invoke(
        app,
        ["play", "toolgym/ToolChoice-Arithmetic-v0", "--task-id", "L1-3"],
        input="hello\ncalc[1+1]\n:hint\n:q\n",
    )
    assert result.exit_code == 0, result.output
    assert "Question: What is" in result.output
    assert "invalid action" in result.output
    assert "expert: finish[" in result.output


def test_play_to_the_end():
    from toolgym.envs.arithmetic import ArithmeticEnv

    env = ArithmeticEnv()
    env.reset(options={"task_id": "L2-7"})
    answer = env.expert_action()
    result = runner.invoke(app, ["play", "toolgym/ToolChoice-Arithmetic-v0", "--task-id", "L2-7"], input=answer + "\n")
    assert result.exit_code == 0, result.output
    assert "episode over: solved" in result.output


def test_play_unknown_id_suggests():
    result = runner.invoke(app, ["play", "toolgym/ToolChoice-Arithmetc-v0"])
    assert result.exit_code == 2
    assert "Did you mean" in result.output and "ToolChoice-Arithmetic" in result.output

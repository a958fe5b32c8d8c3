"""The VQA environments: an image, a question, priced visual tools, and an answer.

:class:`VQAEnv` holds everything the task sources share (observation, tools, costs, scoring, render,
snapshots, program mode); :class:`ShapesVQAEnv` (procedural scenes, the embedded default) and
:class:`EasyVQAEnv` (the easy-VQA test split) supply the images and questions.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from PIL import Image, ImageDraw

from toolgym.core import DataStatus, TextEnv, Transition
from toolgym.costs import timed
from toolgym.envs.vqa.easyvqa import IMAGES, QUESTIONS, EasyVQAData, is_available, load_easy_vqa
from toolgym.envs.vqa.program import default_runner, run_program
from toolgym.envs.vqa.questions import KINDS, QuestionSpec, answer_question, generate_question
from toolgym.envs.vqa.scene import DIFFICULTIES, Scene, SceneConfig, generate_scene, render_scene
from toolgym.envs.vqa.scoring import normalize_answer, score_answer
from toolgym.envs.vqa.tools import ALIASES, DEFAULT_TOOL_COSTS, TOOL_TABLE, TOOLS, Box, VisualTools, zoom
from toolgym.envs.vqa.vocab import COLORS, SHAPES
from toolgym.error import ConfigError, UnknownTaskError
from toolgym.parsing import AnyOf, BracketGrammar, FencedCodeGrammar, Grammar, JsonToolGrammar, ParsedAction
from toolgym.spaces import Utf8Text
from toolgym.splits import normalize_question

__all__ = ["EasyVQAEnv", "HistoryEntry", "ShapesVQAEnv", "VQATask", "VQAEnv"]


@dataclass(frozen=True)
class VQATask:
    """One task: an image, a question and its gold answer.

    Attributes:
        task_id: The id (``"shapes-17"``, ``"q42"``).
        image: ``H x W x 3`` uint8, read-only.
        question: The question text.
        answer: The gold answer.
        kind: The question kind (``"exist"``, ``"count"``, ``"attribute"``, ``"relation"``, ``"compare"``).
        scene: The scene description (ShapesVQA only; what the oracle reads).
        spec: The structured question (ShapesVQA only).
        image_id: The dataset's image id (easy-VQA only).
    """

    task_id: str
    image: np.ndarray
    question: str
    answer: str
    kind: str
    scene: Scene | None = None
    spec: QuestionSpec | None = None
    image_id: int | None = None


@dataclass(frozen=True)
class HistoryEntry:
    """One tool call of the episode (the tool-output history kept in snapshots).

    Attributes:
        tool: The tool's name.
        argument: The argument as given.
        text: The output text.
        boxes: The boxes the call drew.
        crop_box: For ``crop``, the box cropped.
        found: For ``find``, the boxes that ``#k`` refers to afterwards.
    """

    tool: str
    argument: str
    text: str
    boxes: tuple[Box, ...] = ()
    crop_box: Box | None = None
    found: tuple[Box, ...] | None = None


class VQAEnv(TextEnv[dict]):
    """Base class of the VQA environments (see :class:`ShapesVQAEnv` for the full description)."""

    family = "vqa"
    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}  # type: ignore[misc]
    default_max_steps = 12
    max_action_length = 16_384
    max_observation_length = 8_192
    default_tool_costs = DEFAULT_TOOL_COSTS
    #: Longest question text in the observation space.
    max_question_length = 1_024
    #: Image height and width of this env's tasks (set by subclasses).
    image_shape: tuple[int, int] = (64, 64)

    def __init__(
        self,
        *,
        mode: str = "tools",
        reveal_answer: bool = False,
        program_timeout_s: float = 10.0,
        program_runner: Any = None,
        **kwargs: Any,
    ) -> None:
        """Set up the tools, grammar and spaces (see :class:`ShapesVQAEnv` for the arguments)."""
        super().__init__(**kwargs)
        if mode not in ("tools", "program"):
            raise ConfigError(f"mode: expected 'tools' or 'program', got {mode!r}.")
        self.mode = mode
        self.reveal_answer = bool(reveal_answer)
        self.program_timeout_s = float(program_timeout_s)
        names = {**TOOLS, **{alias: TOOLS[name] for alias, name in ALIASES.items()}}
        grammars: list[Grammar] = [BracketGrammar(names), JsonToolGrammar(names)]
        if mode == "program":
            grammars.insert(0, FencedCodeGrammar())
        self.grammar = AnyOf(tuple(grammars))
        h, w = self.image_shape
        self.observation_space = spaces.Dict(
            {
                "image": spaces.Box(0, 255, (h, w, 3), np.uint8),
                "question": Utf8Text(self.max_question_length),
                "output": Utf8Text(self.max_observation_length),
                "crop": spaces.Box(0, 255, (h, w, 3), np.uint8),
                "crop_box": spaces.Box(0, max(h, w), (4,), np.int64),
            }
        )
        self._task: VQATask | None = None
        self._tools: VisualTools | None = None
        self._history: tuple[HistoryEntry, ...] = ()
        if not program_timeout_s > 0:
            raise ConfigError(f"program_timeout_s: expected a positive number of seconds, got {program_timeout_s!r}.")
        self._program_runner: Any = program_runner
        self._owns_runner = False

    # ------------------------------------------------------------------ task source hooks
    def _make_task(self, task_id: str) -> VQATask:
        """Build the task with this id (subclasses)."""
        raise NotImplementedError

    def _draw_task_id(self) -> str:
        """Draw a task id with ``self.np_random`` (subclasses)."""
        raise NotImplementedError

    def _large_threshold(self) -> float | None:
        """The size tool's large/small threshold in pixels (default a quarter of the image side)."""
        return None

    def _oracle_answer(self, task: VQATask) -> str:
        """The oracle's answer, from the task's privileged description."""
        return task.answer

    # ------------------------------------------------------------------ TextEnv hooks
    def _load(self, task_id: str) -> None:
        if self._task is None or self._task.task_id != task_id:
            self._task = self._make_task(task_id)
            self._tools = VisualTools(self._task.image, large_threshold=self._large_threshold())

    def _reset_task(self, task_id: str | None, options: Mapping[str, Any]) -> tuple[str, str]:
        tid = self._draw_task_id() if task_id is None else task_id
        self._load(tid)
        self._history = ()
        assert self._task is not None
        h, w = self.image_shape
        return (
            f"Question: {self._task.question}\nThe image is {w}x{h} pixels (x from 0 at the left, y from 0 at the "
            "top). Look at it with the tools, then answer[...].",
            self._task.task_id,
        )

    def split_key(self) -> str:
        """The question and a hash of the image: one question about two images is two tasks."""
        assert self._task is not None
        digest = hashlib.blake2b(np.ascontiguousarray(self._task.image).tobytes(), digest_size=8).hexdigest()
        return f"{normalize_question(self._task.question)} | image {digest}"

    @property
    def task(self) -> VQATask:
        """The current task."""
        if self._task is None:
            raise ConfigError(f"{type(self).__name__}: no task yet; call reset() first.")
        return self._task

    @property
    def tools(self) -> VisualTools:
        """The visual tools over the current image."""
        if self._tools is None:
            raise ConfigError(f"{type(self).__name__}: no task yet; call reset() first.")
        return self._tools

    def _refs(self) -> tuple[Box, ...]:
        for entry in reversed(self._history):
            if entry.found is not None:
                return entry.found
        return ()

    def _act(self, action: ParsedAction) -> Transition:
        name = ALIASES.get(action.name, action.name)
        if name == "answer":
            return self._answer(action.argument)
        if name in ("execute", "submit"):
            return self._program(action.argument, submit=name == "submit")
        tool = TOOL_TABLE[name]
        argument = action.argument
        if action.args is not None and tool.boxes and "args" in action.args:
            argument = " ".join(str(v) for v in action.args["args"])
        tools = self.tools
        refs = self._refs()
        assert tool.run is not None  # every bracket tool but answer has a call
        run = tool.run
        result, wall = timed(lambda: run(tools, argument, refs))
        if result.error:  # the arguments were rejected before the tool ran: nothing to pay
            return Transition(observation=result.text, invalid=True)
        self.record_tool_call(name, argument, len(result.text), wall)
        self._history += (HistoryEntry(name, argument, result.text, result.boxes, result.crop_box, result.found),)
        return Transition(observation=result.text)

    def _answer(self, given: str) -> Transition:
        task = self.task
        score = score_answer(given, task.answer)
        correct = score == 1.0
        shown = normalize_answer(given) or "(empty)"
        feedback = f"The answer {shown!r} is {'correct' if correct else 'incorrect'}."
        if self.reveal_answer and not correct:
            feedback += f" The expected answer is {task.answer!r}."
        self._history += (HistoryEntry("answer", given, f"Answered {shown!r}."),)
        return Transition(
            observation=f"Episode finished: the answer {shown!r} is {'correct' if correct else 'incorrect'}.",
            reward=score,
            terminated=True,
            success=correct,
            score=score,
            feedback=feedback,
        )

    def _program(self, code: str, *, submit: bool) -> Transition:
        if self._program_runner is None:
            self._program_runner = default_runner()
            self._owns_runner = True
        run = run_program(
            code,
            self.task.image,
            self._program_runner,
            self.program_timeout_s,
            large_threshold=self.tools.large_threshold,
        )
        for call in run.calls:  # the image API may name helpers that are not priced tools
            if call.name in self.cost_model.costs:
                self.record_tool_call(call.name, call.arguments, call.output_chars, call.wall_s)
        self._history += (HistoryEntry("submit" if submit else "execute", code, run.observation, run.boxes),)
        if not submit:
            return Transition(observation=run.observation, feedback=run.feedback)
        if run.answer is None:
            tr = self._answer("")
            return replace(
                tr,
                observation=f"{run.observation}\nThe program gave no answer, so the episode ends unanswered.",
                feedback=f"{run.feedback} {tr.feedback}".strip(),
            )
        tr = self._answer(run.answer)
        return replace(tr, observation=f"{run.observation}\n{tr.observation}", feedback=f"{run.feedback} {tr.feedback}")

    def close(self) -> None:
        """Stop the program runner if the env started it."""
        if self._owns_runner and self._program_runner is not None:
            self._program_runner.close()
            self._program_runner = None
            self._owns_runner = False
        super().close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if state.get("_owns_runner"):  # a live sandbox does not pickle; the copy starts its own when needed
            state["_program_runner"] = None
            state["_owns_runner"] = False
        return state

    def _on_truncate(self) -> Transition:
        return Transition(
            observation=f"Step limit reached ({self.max_steps}) without answer[...]; the episode scores 0.",
            feedback=f"The step limit of {self.max_steps} was reached before an answer was given.",
        )

    def _observe(self, text: str) -> dict:
        task = self.task
        h, w = self.image_shape
        crop_box = None
        for entry in reversed(self._history):
            if entry.crop_box is not None:
                crop_box = entry.crop_box
                break
        if crop_box is None:
            crop = np.zeros((h, w, 3), dtype=np.uint8)
            box = np.zeros(4, dtype=np.int64)
        else:
            x1, y1, x2, y2 = crop_box
            crop = zoom(np.asarray(task.image[y1:y2, x1:x2]), h, w)
            box = np.asarray(crop_box, dtype=np.int64)
        return {
            "image": np.array(task.image, dtype=np.uint8),
            "question": task.question[: self.max_question_length],
            "output": text,
            "crop": crop,
            "crop_box": box,
        }

    def _extra_info(self) -> dict[str, Any]:
        task = self._task
        out: dict[str, Any] = {"question_kind": task.kind if task else ""}
        if task is not None and task.image_id is not None:
            out["image_id"] = task.image_id
        return out

    def _get_state(self) -> tuple[str, tuple[HistoryEntry, ...]]:
        return (self.task.task_id, self._history)

    def _set_state(self, state: tuple[str, tuple[HistoryEntry, ...]]) -> None:
        task_id, history = state
        self._load(task_id)
        self._history = tuple(history)

    def _state_key_data(self) -> Any:
        return [self.task.task_id, [(e.tool, e.argument, e.text) for e in self._history]]

    def expert_action(self) -> str:
        """The oracle answers at once from the task's privileged description (100% by construction)."""
        return f"answer[{self._oracle_answer(self.task)}]"

    def instructions(self) -> str:
        """How to act, for prompts and the ``play`` command."""
        costs = self.cost_model.costs
        h, w = self.image_shape
        lines = [
            f"Answer the question about the {w}x{h} image. Boxes are [x1, y1, x2, y2] in pixels (x to the right, "
            "y downwards, x2/y2 exclusive); #k means the k-th box of the last find.",
            "find[<description>] - boxes of the objects that fit, e.g. find[large red circle] "
            f"({costs['find'].per_call:g})",
            f"count[<description>] - how many objects fit ({costs['count'].per_call:g})",
            f"color[<box>], shape[<box>], size[<box>] - the main object in the box ({costs['color'].per_call:g} each)",
            f"relation[<box_a>, <box_b>] - left/right and above/below ({costs['relation'].per_call:g})",
            f"crop[<box>] - the box's pixels, enlarged in the crop image ({costs['crop'].per_call:g})",
            "answer[<answer>] - ends the episode (reward 1 if correct). Colours: "
            + ", ".join(COLORS)
            + "; shapes: "
            + ", ".join(SHAPES)
            + "; sizes: small, large; numbers as digits.",
        ]
        if self.mode == "program":
            lines.append(
                "A ```python block runs a program with the image API (ImagePatch; see docs/vqa.md) and shows its "
                "result; 'Submit:' before the block submits the program's result as the answer "
                f"({costs['program'].per_call:g} per run plus its tool calls)."
            )
        return "\n".join(lines)

    # ------------------------------------------------------------------ render
    def render(self) -> Any:
        """``"rgb_array"``: the image, enlarged to at least 256 pixels, with the last tool's boxes drawn.

        ``"ansi"``: the last action, observation and reward as text.
        """
        if self.render_mode != "rgb_array":
            return super().render()
        if self._task is None:
            h, w = self.image_shape
            return np.zeros((h, w, 3), dtype=np.uint8)
        h, w = self.image_shape
        k = max(1, -(-256 // max(h, w)))
        img = Image.fromarray(np.asarray(self.task.image)).resize((w * k, h * k), Image.Resampling.NEAREST)
        boxes = self._history[-1].boxes if self._history else ()
        draw = ImageDraw.Draw(img)
        for i, (x1, y1, x2, y2) in enumerate(boxes, start=1):
            color = (255, 0, 255) if i % 2 else (0, 200, 255)
            draw.rectangle([x1 * k, y1 * k, x2 * k - 1, y2 * k - 1], outline=color, width=max(1, k // 2))
            draw.text((x1 * k + 2, y1 * k + 1), f"#{i}", fill=color)
        return np.asarray(img, dtype=np.uint8).copy()


def _parse_index(task_id: str, prefix: str) -> int | None:
    m = re.fullmatch(rf"{prefix}(\d+)", task_id.strip())
    return int(m.group(1)) if m else None


class ShapesVQAEnv(VQAEnv):
    """Visual question answering on procedural scenes of coloured shapes, with visual tools on the pixels.

    ## Description

    Each task is a CLEVR-style scene - flat circles, rectangles and triangles in ten colours and two sizes on
    a light background, rendered with Pillow (anti-aliased; optional occlusion, pixel noise and colour jitter)
    - and a question generated from the scene: existence ("Is there a red circle?"), counting ("How many
    triangles are there?"), attributes ("What color is the large circle?"), spatial relations ("Is the red
    circle to the left of the blue triangle?") and comparisons ("Are there more circles than triangles?", "Is
    the red circle larger than the blue rectangle?"). The agent looks at the image through priced tools that
    run classical computer vision on the pixels (no tool reads the scene description), and answers. Needs no
    download: the scene and question come from the task id.

    ## Action Space

    Text (:class:`~toolgym.spaces.Utf8Text`), one of (boxes are ``[x1, y1, x2, y2]`` pixels, x right, y down,
    ``x2``/``y2`` exclusive; ``#k`` is the k-th box of the last ``find``):

    * ``find[<description>]`` - boxes of the objects that fit, e.g. ``find[large red circle]``, ``find[object]``;
    * ``count[<description>]`` - how many objects fit;
    * ``color[<box>]``, ``shape[<box>]``, ``size[<box>]`` - the main object in the box (``colour`` accepted);
    * ``relation[<box_a>, <box_b>]`` - whether A's object is left/right of and above/below B's;
    * ``crop[<box>]`` - the box's pixels, shown enlarged in the observation's ``crop`` image;
    * ``answer[<answer>]`` (or ``finish[...]``) - ends the episode.

    JSON tool calls (``{"tool": "find", "args": "red circle"}``, ``{"tool": "color", "args": [1, 2, 30, 40]}``)
    are accepted too. With ``mode="program"``, a fenced ```python block runs a program against the image API
    (``ImagePatch``, ViperGPT style) and shows its result or error; ``Submit:`` before the block submits the
    program's result as the answer. Invalid boxes (out of range, negative, swapped corners, empty), unknown
    colours or shapes, and text that does not parse are invalid actions: an observation says what was expected
    and ``info["invalid_action"]`` is set (``invalid_action_penalty`` applies; the tool is not charged).

    ## Observation Space

    ``spaces.Dict`` with fresh arrays on every step:

    * ``image`` - ``Box(0, 255, (H, W, 3), uint8)``, the scene;
    * ``question`` - the question text;
    * ``output`` - the last tool output (after reset: the question and the image size);
    * ``crop`` - ``Box(0, 255, (H, W, 3), uint8)``: the most recent crop, enlarged by a whole factor and centred
      on white (all zeros before any crop);
    * ``crop_box`` - ``Box(0, max(H, W), (4,), int64)``: the box of that crop (zeros before any crop).

    ## Rewards

    ``1`` for a correct answer (exact match after normalisation: see :mod:`toolgym.envs.vqa.scoring`), else
    ``0``, minus ``cost_weight`` times the tool costs. Default prices per call: ``find`` and ``count`` 0.02,
    ``color``, ``shape`` and ``size`` 0.01, ``relation`` and ``crop`` 0.005, ``program`` 0.05 per run plus
    the priced tool calls it makes; ``answer`` is free. Nominal latencies (charged only where a per-second
    price is set): 10 ms for find/count, 1 ms for the box tools, 0.5 ms for crop, 50 ms for a program.

    ## Episode End

    Terminated by ``answer`` (or a submitted program); truncated after ``max_steps`` (default 12) with score 0.

    ## Arguments

    * ``difficulty`` - ``"easy"`` (1-3 objects, clean), ``"medium"`` (default: 3-6 objects, noise 4, colour
      jitter 8) or ``"hard"`` (5-8 objects, up to 30% occlusion, noise 10, colour jitter 16), or a
      :class:`~toolgym.envs.vqa.scene.SceneConfig`.
    * ``num_objects``, ``occlusion``, ``noise``, ``color_jitter``, ``image_size`` - override the preset's knobs.
    * ``question_kinds`` - the kinds to ask (default all five).
    * ``mode`` - ``"tools"`` (default) or ``"program"``.
    * ``reveal_answer`` - add the gold answer to ``info["feedback"]`` after a wrong answer (for reflectors
      trained as in Re-ReST); default False.
    * ``program_timeout_s`` - wall-clock limit of one program run (default 10 s).
    * plus the shared :class:`~toolgym.core.TextEnv` arguments (``max_steps``, ``cost_weight``,
      ``tool_costs``, ``latency``, ``invalid_action_penalty``, ``render_mode``: ``"ansi"`` or ``"rgb_array"``).

    Task ids are ``"shapes-<n>"`` for any non-negative ``n``; ``info["question_kind"]`` carries the kind.

    ## Version History

    * v0: initial version.
    """

    #: Number of task ids listed by :meth:`task_ids`.
    listed_tasks = 1000

    def __init__(
        self,
        difficulty: str | SceneConfig = "medium",
        *,
        num_objects: tuple[int, int] | None = None,
        occlusion: float | None = None,
        noise: float | None = None,
        color_jitter: int | None = None,
        image_size: int | None = None,
        question_kinds: Sequence[str] = KINDS,
        **kwargs: Any,
    ) -> None:
        """Create the env (see the class docstring for the arguments)."""
        if isinstance(difficulty, SceneConfig):
            config = difficulty
        elif difficulty in DIFFICULTIES:
            config = DIFFICULTIES[difficulty]
        else:
            raise ConfigError(
                f"difficulty: expected one of {sorted(DIFFICULTIES)} or a SceneConfig, got {difficulty!r}."
            )
        overrides: dict[str, Any] = {
            k: v
            for k, v in {
                "num_objects": tuple(num_objects) if num_objects is not None else None,
                "occlusion": occlusion,
                "noise": noise,
                "color_jitter": color_jitter,
                "image_size": image_size,
            }.items()
            if v is not None
        }
        self.scene_config = replace(config, **overrides) if overrides else config
        kinds = tuple(question_kinds)
        bad = [k for k in kinds if k not in KINDS]
        if not kinds or bad:
            raise ConfigError(f"question_kinds: expected kinds among {list(KINDS)}, got {list(question_kinds)!r}.")
        self.question_kinds = kinds
        self.difficulty = difficulty if isinstance(difficulty, str) else "custom"
        self.image_shape = (self.scene_config.image_size, self.scene_config.image_size)
        super().__init__(**kwargs)

    def task_ids(self) -> list[str]:
        """The first :attr:`listed_tasks` ids (any ``shapes-<n>`` is a task)."""
        return [f"shapes-{n}" for n in range(self.listed_tasks)]

    def _draw_task_id(self) -> str:
        return f"shapes-{int(self.np_random.integers(2**31 - 1))}"

    def iter_task_ids(self) -> Iterator[str]:
        """``shapes-0``, ``shapes-1``, ... without end."""
        return (f"shapes-{n}" for n in itertools.count())

    def _make_task(self, task_id: str) -> VQATask:
        n = _parse_index(task_id, "shapes-")
        if n is None:
            raise UnknownTaskError(task_id, type(self).__name__, self.task_ids()[:50])
        scene = generate_scene(self.scene_config, n)
        image = render_scene(scene)
        image.flags.writeable = False
        question = generate_question(scene, np.random.default_rng([n, 0x9E57]), self.question_kinds)
        return VQATask(f"shapes-{n}", image, question.text, question.answer, question.kind, scene, question.spec)

    def _large_threshold(self) -> float:
        return self.scene_config.large_threshold

    def _oracle_answer(self, task: VQATask) -> str:
        assert task.scene is not None and task.spec is not None
        return answer_question(task.scene, task.spec)

    def _extra_info(self) -> dict[str, Any]:
        return {**super()._extra_info(), "difficulty": self.difficulty}


def _easy_kind(answer: str) -> str:
    return "exist" if answer in ("yes", "no") else "attribute"


class EasyVQAEnv(VQAEnv):
    """Visual question answering on the easy-VQA test split (1,000 images, 9,673 questions), with visual tools.

    ## Description

    easy-VQA (Victor Zhou, MIT license) shows one coloured shape - a circle, rectangle or triangle in one of
    eight colours - on a light 64x64 background and asks about it: "what color is the shape?", "what is the red
    shape?", "is there not a blue circle in the image?". Answers are yes/no, a colour or a shape. The agent uses
    the same priced visual tools as :class:`ShapesVQAEnv` (see there for the action grammar, observation,
    tool prices, program mode and arguments), which work on the pixels only.

    ## Action Space

    As :class:`ShapesVQAEnv`.

    ## Observation Space

    As :class:`ShapesVQAEnv`, with 64x64 images.

    ## Rewards

    As :class:`ShapesVQAEnv`: 1 for an exact (normalised) match with the gold answer, minus tool costs.

    ## Episode End

    Terminated by ``answer``; truncated after ``max_steps`` (default 12).

    ## Arguments

    ``mode``, ``reveal_answer``, ``program_timeout_s`` and the shared :class:`~toolgym.core.TextEnv`
    arguments. Data: ``TOOLGYM_DATA_DIR/easy_vqa/test_questions.json`` and ``test_images.tar`` (see
    :mod:`toolgym.envs.vqa.easyvqa`). Task ids are ``"q<index>"`` (0-9672), the question's position in the
    file; ``info["image_id"]`` carries its image.

    ## Version History

    * v0: initial version.
    """

    image_shape = (64, 64)

    def __init__(self, **kwargs: Any) -> None:
        """Create the env (see the class docstring); raises DataNotFoundError when the data is missing."""
        super().__init__(**kwargs)
        self.data: EasyVQAData = load_easy_vqa()

    @classmethod
    def data_status(cls, **kwargs: Any) -> DataStatus:
        """Whether the easy-VQA files are in ``TOOLGYM_DATA_DIR``."""
        ok = is_available(QUESTIONS, IMAGES)
        detail = "" if ok else f"put {QUESTIONS.relpath} and {IMAGES.relpath} under TOOLGYM_DATA_DIR"
        return DataStatus("TOOLGYM_DATA_DIR/easy_vqa/ (easy-VQA test split)", ok, detail)

    def task_ids(self) -> list[str]:
        """``q0`` ... ``q9672``."""
        return [f"q{i}" for i in range(len(self.data))]

    def _draw_task_id(self) -> str:
        return f"q{int(self.np_random.integers(len(self.data)))}"

    def _make_task(self, task_id: str) -> VQATask:
        i = _parse_index(task_id, "q")
        if i is None or not 0 <= i < len(self.data):
            raise UnknownTaskError(task_id, type(self).__name__, self.task_ids()[:50])
        q = self.data.question(i)
        image = self.data.image(q.image_id)
        return VQATask(f"q{i}", image, q.text, q.answer, _easy_kind(q.answer), image_id=q.image_id)

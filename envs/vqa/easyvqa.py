"""The easy-VQA test split (1,000 images, 9,673 questions), read from ``TOOLGYM_DATA_DIR/easy_vqa/``.

easy-VQA (Victor Zhou, MIT license; PyPI package ``easy-vqa`` 1.0) draws one coloured shape (circle,
rectangle or triangle in one of eight colours) on a light background in a 64x64 image, and asks yes/no,
colour and shape questions about it. Two files are needed:

* ``easy_vqa/test_questions.json`` - a JSON list of ``[question, answer, image_id]``;
* ``easy_vqa/test_images.tar`` - a plain tar of ``images/<image_id>.png`` (read in place; never extracted).

Both are checked against their SHA-256. They are not downloaded automatically (easy-VQA ships as a Python
wheel, not as these files): :data:`INSTRUCTIONS` says how to build them from the wheel.

Example:
    >>> data = load_easy_vqa() if is_available(QUESTIONS, IMAGES) else None
    >>> data is None or (len(data), data.image(0).shape) == (9673, (64, 64, 3))
    True
"""

from __future__ import annotations

import functools
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from toolgym.data import DataFile, fetch, is_available
from toolgym.error import DataNotFoundError

__all__ = ["IMAGES", "INSTRUCTIONS", "QUESTIONS", "EasyVQAData", "EasyVQAQuestion", "is_available", "load_easy_vqa"]

INSTRUCTIONS = (
    "Build the files from the easy-VQA 1.0 wheel: `pip download --no-deps easy-vqa==1.0`, unzip it, copy "
    "easy_vqa/data/test/questions.json to easy_vqa/test_questions.json and pack the folder "
    "easy_vqa/data/test/images into easy_vqa/test_images.tar (`tar cf test_images.tar images`)."
)

#: The questions file.
QUESTIONS = DataFile(
    "easy_vqa/test_questions.json",
    "easy-VQA test questions (9,673 [question, answer, image_id] triples)",
    sha256="0d4630a51bafec65343e2f6af9cdd20cf8eae214344ef57636202eec409553f7",
    instructions=INSTRUCTIONS,
)
#: The images tar.
IMAGES = DataFile(
    "easy_vqa/test_images.tar",
    "easy-VQA test images (1,000 PNGs in a tar)",
    sha256="a8ef47a0db3f4479a11c23c564cacf4b7e5b94a03e3d29b9507690a48705ce47",
    instructions=INSTRUCTIONS,
)


@dataclass(frozen=True)
class EasyVQAQuestion:
    """One easy-VQA question.

    Attributes:
        index: Its position in the questions file (the env's task id is ``q<index>``).
        text: The question, e.g. ``"what is the red shape?"``.
        answer: The gold answer (one of the 13 answers: yes, no, 3 shapes, 8 colours).
        image_id: The image it asks about.
    """

    index: int
    text: str
    answer: str
    image_id: int


class EasyVQAData:
    """The easy-VQA test split in memory: the questions and the PNG bytes of every image.

    Build it with :func:`load_easy_vqa` (cached per file). Pickling keeps only the file paths.

    Args:
        questions_path: Path of ``test_questions.json``.
        images_path: Path of ``test_images.tar``.
    """

    def __init__(self, questions_path: str | os.PathLike[str], images_path: str | os.PathLike[str]) -> None:
        """Read both files."""
        self.questions_path = Path(questions_path)
        self.images_path = Path(images_path)
        with open(self.questions_path, encoding="utf-8") as fh:
            rows = json.load(fh)
        self.questions: tuple[EasyVQAQuestion, ...] = tuple(
            EasyVQAQuestion(i, str(q), str(a), int(img)) for i, (q, a, img) in enumerate(rows)
        )
        self._png: dict[int, bytes] = {}
        self._decoded: dict[int, np.ndarray] = {}
        with tarfile.open(self.images_path) as tar:
            for member in tar.getmembers():
                name = Path(member.name)
                if member.isfile() and name.suffix == ".png" and name.stem.isdigit():
                    png = tar.extractfile(member)
                    if png is not None:
                        self._png[int(name.stem)] = png.read()
        missing = sorted({q.image_id for q in self.questions} - set(self._png))
        if missing:
            raise DataNotFoundError(
                f"easy-VQA: expected an image for every question in {self.images_path}, got none for image ids "
                f"{missing[:5]}{'...' if len(missing) > 5 else ''}. Rebuild the tar: {INSTRUCTIONS}"
            )

    def __len__(self) -> int:
        return len(self.questions)

    def question(self, index: int) -> EasyVQAQuestion:
        """The question at ``index``."""
        return self.questions[index]

    def image(self, image_id: int) -> np.ndarray:
        """The image as a read-only ``64 x 64 x 3`` uint8 array (decoded once)."""
        arr = self._decoded.get(image_id)
        if arr is None:
            with Image.open(io.BytesIO(self._png[image_id])) as im:
                arr = np.array(im.convert("RGB"), dtype=np.uint8)
            arr.flags.writeable = False
            self._decoded[image_id] = arr
        return arr

    def __reduce__(self) -> tuple[Any, ...]:
        return (_load, (str(self.questions_path), str(self.images_path)))


@functools.lru_cache(maxsize=4)
def _load_cached(questions: str, images: str, stamp: tuple[int, int, int, int]) -> EasyVQAData:
    return EasyVQAData(questions, images)


def _load(questions: str, images: str) -> EasyVQAData:
    sq, si = os.stat(questions), os.stat(images)
    return _load_cached(questions, images, (sq.st_size, sq.st_mtime_ns, si.st_size, si.st_mtime_ns))


def load_easy_vqa(*, verify: bool = True) -> EasyVQAData:
    """Load the easy-VQA test split from ``TOOLGYM_DATA_DIR/easy_vqa/`` (cached per file and version).

    Args:
        verify: Check the files' SHA-256.

    Returns:
        The data.

    Raises:
        DataNotFoundError: A file is missing or corrupt; the message says what to put where.
    """
    questions = fetch(QUESTIONS, download=False, verify=verify)
    images = fetch(IMAGES, download=False, verify=verify)
    return _load(str(questions), str(images))

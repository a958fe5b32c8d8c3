"""Visual question answering environments with visual tools that work on pixels.

* :class:`~toolgym.envs.vqa.env.ShapesVQAEnv` (``toolgym/ShapesVQA-v0``, ``toolgym/ShapesVQA-Hard-v0``) -
  procedural CLEVR-style scenes with generated questions; no download.
* :class:`~toolgym.envs.vqa.env.EasyVQAEnv` (``toolgym/EasyVQA-v0``) - the easy-VQA test split.

Modules: :mod:`~toolgym.envs.vqa.scene` (generator and renderer), :mod:`~toolgym.envs.vqa.questions`
(question generator and oracle), :mod:`~toolgym.envs.vqa.vision` (classical computer vision),
:mod:`~toolgym.envs.vqa.tools` (the text tools and their table of prices),
:mod:`~toolgym.envs.vqa.api` (the image API for programs),
:mod:`~toolgym.envs.vqa.program` (program mode), :mod:`~toolgym.envs.vqa.scoring`,
:mod:`~toolgym.envs.vqa.evaluate` (tool accuracy) and :mod:`~toolgym.envs.vqa.easyvqa` (the data loader).
The scripted policies (``make_policy("vqa-tools")``, ``"vqa-program"``) and their accuracy are in
:mod:`toolgym.agents.vqa`.
"""

from toolgym.error import require

# Pillow draws and reads the images, scipy does the computer vision: without them, importing any VQA module
# fails here with a message naming the extra to install (rather than deep inside a submodule).
require("PIL", "vqa", "The VQA family (images)")
require("scipy", "vqa", "The VQA family (vision tools)")

"""The model a method trains: a small GPT-2 built from scratch, or a pretrained one (Hugging Face, GGUF).

:class:`ModelSpec` says which; :func:`build_model` makes a fresh copy (methods such as ReST-EM fine-tune from the
base model at each iteration, so the base must be rebuilt identically), and :func:`trained_llm` puts a trained
model behind the :class:`~toolgym.agents.base.LLM` protocol on its device.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from toolgym.error import ConfigError, require

__all__ = ["ModelSpec", "build_model", "load_trained", "trained_llm"]


@dataclass(frozen=True)
class ModelSpec:
    """Which model to train.

    Attributes:
        kind: ``"scratch"`` (a small model with random weights, the CPU workhorse of the learning experiments),
            ``"hf"`` (a hub id or folder: ``path``), or ``"gemma"`` (Gemma-3-270M from its GGUF; LoRA advised).
        path: The hub id or folder (``"hf"``).
        arch: ``"gpt2"`` (learned absolute positions, the default) or ``"llama"`` (rotary positions), for
            ``"scratch"``.
        n_layer: Blocks (``"scratch"``).
        n_embd: Width (``"scratch"``).
        n_head: Heads (``"scratch"``).
        n_positions: Context length (``"scratch"``).
        vocab_size: Tokenizer size (``"scratch"``: the tiny byte-level BPE, digits split).
        dropout: Residual, attention and embedding dropout (``"scratch"``).
        init_seed: Seeds the random initialisation (``"scratch"``).
        dtype: ``"float32"`` or ``"bfloat16"`` (pretrained models).
        device: Where to train (``"cpu"``, ``"cuda"``, ``"auto"``).
    """

    kind: str = "scratch"
    path: str | None = None
    arch: str = "gpt2"
    n_layer: int = 4
    n_embd: int = 128
    n_head: int = 4
    n_positions: int = 1024
    vocab_size: int = 1024
    dropout: float = 0.0
    init_seed: int = 0
    dtype: str = "float32"
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.kind not in ("scratch", "hf", "gemma"):
            raise ConfigError(f"ModelSpec.kind: expected 'scratch', 'hf' or 'gemma', got {self.kind!r}.")
        if self.arch not in ("llama", "gpt2"):
            raise ConfigError(f"ModelSpec.arch: expected 'llama' or 'gpt2', got {self.arch!r}.")
        if self.kind == "hf" and not self.path:
            raise ConfigError("ModelSpec: kind='hf' needs path= (a hub id or a local folder).")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> ModelSpec:
        """Build from a recipe's mapping (unknown keys raise)."""
        d = dict(d or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"ModelSpec: expected keys among {sorted(known)}, got {unknown}.")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _device(spec: ModelSpec) -> Any:
    import torch

    if spec.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec.device)


def _scratch_config(transformers: Any, spec: ModelSpec, tok: Any) -> Any:
    """The architecture of a model trained from scratch (sized to the tokenizer)."""
    common = {"bos_token_id": tok.eos_token_id, "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id}
    if spec.arch == "gpt2":
        return transformers.GPT2Config(
            vocab_size=len(tok),
            n_positions=spec.n_positions,
            n_embd=spec.n_embd,
            n_layer=spec.n_layer,
            n_head=spec.n_head,
            activation_function="gelu_pytorch_tanh",
            resid_pdrop=spec.dropout,
            embd_pdrop=spec.dropout,
            attn_pdrop=spec.dropout,
            **common,
        )
    return transformers.LlamaConfig(
        vocab_size=len(tok),
        hidden_size=spec.n_embd,
        intermediate_size=4 * spec.n_embd,
        num_hidden_layers=spec.n_layer,
        num_attention_heads=spec.n_head,
        num_key_value_heads=spec.n_head,
        max_position_embeddings=spec.n_positions,
        attention_dropout=spec.dropout,
        tie_word_embeddings=True,
        **common,
    )


def build_model(spec: ModelSpec) -> tuple[Any, Any]:
    """A fresh ``(model, tokenizer)`` as ``spec`` says (the same weights every time for a given spec)."""
    torch: Any = require("torch", "llm", "Training")
    transformers: Any = require("transformers", "llm", "Training")
    if spec.kind == "scratch":
        from toolgym.agents.llm.tiny import build_tiny_tokenizer

        tok = build_tiny_tokenizer(spec.vocab_size, split_digits=True)
        config = _scratch_config(transformers, spec, tok)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.init_seed)
            model = transformers.AutoModelForCausalLM.from_config(config)
    elif spec.kind == "hf":
        tok = transformers.AutoTokenizer.from_pretrained(spec.path)
        model = transformers.AutoModelForCausalLM.from_pretrained(spec.path, dtype=getattr(torch, spec.dtype))
    else:
        from toolgym.agents.llm.gemma import gemma_gguf_path
        from toolgym.agents.llm.tokenizer_check import load_checked_tokenizer

        path = gemma_gguf_path()
        tok = transformers.AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        tok = load_checked_tokenizer(tok, str(path.parent), path.name, given=False)
        model = transformers.AutoModelForCausalLM.from_pretrained(
            str(path.parent), gguf_file=path.name, dtype=getattr(torch, spec.dtype)
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.to(_device(spec))
    model.eval()
    return model, tok


def trained_llm(model: Any, tokenizer: Any, *, batch_size: int = 32, name: str = "trained") -> Any:
    """The model behind the LLM protocol (an ``HFLLM`` that keeps it on its device, in eval mode)."""
    from toolgym.agents.llm.hf import HFLLM

    model.eval()
    return HFLLM(model, tokenizer=tokenizer, batch_size=batch_size, name=name)


def load_trained(spec: ModelSpec, folder: str | Any) -> tuple[Any, Any]:
    """Load what :func:`~toolgym.algorithms.sft.run_sft` saved: a full model folder, or a LoRA adapter on ``spec``."""
    from pathlib import Path

    transformers: Any = require("transformers", "llm", "Loading a trained model")
    folder = Path(folder)
    if (folder / "adapter_config.json").is_file():
        peft: Any = require("peft", "llm", "Loading a LoRA adapter")
        base, tok = build_model(spec)
        model = peft.PeftModel.from_pretrained(base, str(folder))
    else:
        model = transformers.AutoModelForCausalLM.from_pretrained(str(folder))
        tok = transformers.AutoTokenizer.from_pretrained(str(folder))
        model.to(_device(spec))
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model.eval()
    return model, tok

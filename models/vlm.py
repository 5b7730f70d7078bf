"""Local vision-language models (transformers) behind one small interface, for PSSS and captions.

A :class:`VLM` holds a model, its tokenizer and a per-family :class:`VLMAdapter` that turns
chat conversations with images into model inputs. Two things are asked of it:

* :meth:`VLM.generate`: greedy decoding of a batch of conversations (captions, PSSS round 1);
* :meth:`VLM.next_token_logits`: the logits of the next token after a batch of conversations
  (PSSS round 2, the yes/no answer).

Adapters:

* :class:`QwenVLAdapter` (Qwen2-VL, Qwen2.5-VL): builds Qwen's chat format itself, expands each
  image into its ``<|image_pad|>`` tokens, runs the checkpoint's own image processor (its PIL
  backend: no torchvision needed) and passes ``mm_token_type_ids``, without which transformers 5
  raises (Qwen2-VL) or silently uses wrong positions (Qwen2.5-VL).
* :class:`ChatProcessorAdapter` (LLaVA-OneVision, InternVL3-hf and other transformers VLMs with a
  chat template): the checkpoint's ``AutoProcessor`` and ``apply_chat_template``. In transformers
  5 these processors build a video processor that needs torchvision; where torchvision is
  missing, loading fails with a clear error.

Images are uint8 H x W x 3 arrays (RGB). Batches are left-padded so that the last position of
every row is the position whose next token is asked for.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from semcom_models import model_paths


@dataclass
class Turn:
    """One chat turn: ``role`` "user" or "assistant", images (uint8 H x W x 3) then text."""

    role: str
    text: str
    images: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', got {self.role!r}")
        for im in self.images:
            a = np.asarray(im)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"images must be uint8 H x W x 3, got {a.dtype} {a.shape}")


Conversation = Sequence[Turn]


class VLMAdapter(ABC):
    """Turns a batch of conversations into the keyword arguments of the model's forward."""

    @abstractmethod
    def prepare(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        """Left-padded tensors for ``model(**inputs)``, ending with the assistant's turn opened."""

    @property
    @abstractmethod
    def tokenizer(self) -> Any:
        """The tokenizer (for decoding and for looking up answer tokens)."""


class QwenVLAdapter(VLMAdapter):
    """Qwen2-VL / Qwen2.5-VL: Qwen chat format, image pads expanded by the image grid."""

    SYSTEM = "You are a helpful assistant."

    def __init__(self, tokenizer: Any, image_processor: Any, config: Any):
        self._tok = tokenizer
        self.image_processor = image_processor
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
               ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>")}
        missing = [t for t, i in ids.items() if i is None or i == tokenizer.unk_token_id]
        if missing:
            raise ValueError(f"tokenizer lacks Qwen special tokens {missing}")
        self.ids = ids
        self.image_token_id = getattr(config, "image_token_id", None) or ids["<|image_pad|>"]
        self.merge = int(getattr(image_processor, "merge_size", 2))
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else tokenizer.convert_tokens_to_ids("<|endoftext|>")

    @property
    def tokenizer(self) -> Any:
        return self._tok

    def _text(self, s: str) -> list[int]:
        return list(self._tok.encode(s, add_special_tokens=False))

    def prepare(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        import torch

        images = [im for conv in conversations for turn in conv for im in turn.images]
        pixel = None
        counts: list[int] = []
        if images:
            pixel = self.image_processor(images=[np.asarray(im) for im in images], return_tensors="pt")
            grids = pixel["image_grid_thw"]
            counts = [int(g.prod()) // (self.merge ** 2) for g in grids]
        k = 0
        rows = []
        nl = self._text("\n")
        start, end = self.ids["<|im_start|>"], self.ids["<|im_end|>"]
        v_start, v_end = self.ids["<|vision_start|>"], self.ids["<|vision_end|>"]
        for conv in conversations:
            ids = [start, *self._text("system\n" + self.SYSTEM), end, *nl]
            for turn in conv:
                if not turn.images:   # tokenized as one piece, as the chat template renders it
                    ids += [start, *self._text(turn.role + "\n" + turn.text), end, *nl]
                    continue
                ids += [start, *self._text(turn.role + "\n")]
                for _ in turn.images:
                    ids += [v_start, *[self.image_token_id] * counts[k], v_end]
                    k += 1
                ids += [*self._text(turn.text), end, *nl]
            ids += [start, *self._text("assistant\n")]
            rows.append(ids)
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
        out = {"input_ids": input_ids, "attention_mask": mask,
               "mm_token_type_ids": (input_ids == self.image_token_id).to(torch.int32) * mask.to(torch.int32)}
        if pixel is not None:
            out["pixel_values"] = pixel["pixel_values"]
            out["image_grid_thw"] = pixel["image_grid_thw"]
        return out


class ChatProcessorAdapter(VLMAdapter):
    """Any VLM whose ``AutoProcessor`` has a chat template (LLaVA-OneVision, InternVL3-hf, ...)."""

    def __init__(self, processor: Any):
        self.processor = processor
        tok = processor.tokenizer
        tok.padding_side = "left"
        self._tok = tok

    @property
    def tokenizer(self) -> Any:
        return self._tok

    def prepare(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        from PIL import Image

        batch = []
        for conv in conversations:
            msgs = []
            for turn in conv:
                content = [{"type": "image", "image": Image.fromarray(np.asarray(im))} for im in turn.images]
                content.append({"type": "text", "text": turn.text})
                msgs.append({"role": turn.role, "content": content})
            batch.append(msgs)
        out = self.processor.apply_chat_template(batch, add_generation_prompt=True, tokenize=True,
                                                 return_dict=True, return_tensors="pt", padding=True)
        return dict(out)


# model_type (config.json) -> adapter family
QWEN_TYPES = ("qwen2_vl", "qwen2_5_vl")


def _load_config(path: os.PathLike) -> Any:
    from transformers import AutoConfig

    return model_paths.from_pretrained(AutoConfig, path)


def build_adapter(path: os.PathLike, config: Any) -> VLMAdapter:
    """The adapter for the checkpoint at ``path`` (by its config's model_type)."""
    if config.model_type in QWEN_TYPES:
        from transformers import AutoImageProcessor, AutoTokenizer

        tok = model_paths.from_pretrained(AutoTokenizer, path)
        try:
            ip = model_paths.from_pretrained(AutoImageProcessor, path)
        except Exception as e:  # noqa: BLE001 - report which file is missing, whatever failed
            raise RuntimeError(f"cannot load the image processor of {path} (preprocessor_config.json): {e}") from e
        return QwenVLAdapter(tok, ip, config)
    from transformers import AutoProcessor

    hint = ("In transformers 5 the processors of LLaVA-OneVision and InternVL build a video processor that "
            "needs torchvision; Qwen2-VL and Qwen2.5-VL need neither.")
    try:
        proc = model_paths.from_pretrained(AutoProcessor, path)
    except Exception as e:  # noqa: BLE001
        raise RuntimeError(f"cannot load the processor of {path} (model_type {config.model_type!r}): {e}. "
                           + hint) from e
    if not (hasattr(proc, "tokenizer") and hasattr(proc, "image_processor") and hasattr(proc, "apply_chat_template")):
        raise RuntimeError(f"{path} (model_type {config.model_type!r}) has no multimodal processor with a chat "
                           f"template (processor_config.json), only {type(proc).__name__}. " + hint)
    return ChatProcessorAdapter(proc)


class VLM:
    """A local vision-language model. Build it with :meth:`load`."""

    def __init__(self, model: Any, adapter: VLMAdapter, device: str = "cpu", name: str = "vlm"):
        self.model = model
        self.adapter = adapter
        self.device = device
        self.name = name

    @property
    def tokenizer(self) -> Any:
        return self.adapter.tokenizer

    @classmethod
    def load(cls, name: str = "qwen2.5-vl", path: str | os.PathLike | None = None, *, device: str | None = None,
             dtype: Any = None, config: str | os.PathLike | None = None) -> "VLM":
        """Load model ``name`` from its local folder (:func:`model_paths.resolve_model_path`)."""
        from transformers import AutoModelForImageTextToText

        p = model_paths.resolve_model_path(name, path, config=config)
        device, dtype = model_paths.torch_device_dtype(device, dtype)
        cfg = _load_config(p)
        adapter = build_adapter(p, cfg)
        model = model_paths.from_pretrained(AutoModelForImageTextToText, p, dtype=dtype).to(device).eval()
        return cls(model, adapter, device, name)

    def _inputs(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        import torch

        inputs = self.adapter.prepare(conversations)
        out = {}
        for k, v in inputs.items():
            if isinstance(v, torch.Tensor):
                v = v.to(self.device)
                if v.is_floating_point():
                    v = v.to(self.model.dtype)
            out[k] = v
        return out

    def generate(self, conversations: Sequence[Conversation], max_new_tokens: int = 64) -> list[str]:
        """Greedy answers (decoded text, special tokens dropped) to a batch of conversations."""
        import torch

        if not conversations:
            return []
        inputs = self._inputs(conversations)
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.inference_mode():
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                                      temperature=None, top_p=None, top_k=None, pad_token_id=pad)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [s.strip() for s in tok.batch_decode(new, skip_special_tokens=True)]

    def next_token_logits(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """float32 (batch, vocab) logits of the token that would follow each conversation."""
        import torch

        inputs = self._inputs(conversations)
        with torch.inference_mode():
            out = self.model(**inputs, logits_to_keep=1)
        return out.logits[:, -1, :].float().cpu().numpy()

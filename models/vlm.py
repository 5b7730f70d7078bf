"""Local vision-language models (transformers) behind one small interface, for PSSS and captions.

A :class:`VLM` holds a model, its tokenizer and a per-family :class:`VLMAdapter` that turns
chat conversations with images (and, where the family takes them, videos) into model inputs.
Two things are asked of it:

* :meth:`VLM.generate`: decoding of a batch of conversations (captions, PSSS round 1), greedy by
  default, or sampled with a temperature and a seed (deterministic given the seed);
* :meth:`VLM.next_token_logits`: the logits of the next token after a batch of conversations
  (PSSS round 2, the yes/no answer).

Adapters:

* :class:`QwenVLAdapter` (Qwen2-VL, Qwen2.5-VL): builds Qwen's chat format itself, expands each
  image into its ``<|image_pad|>`` tokens, runs the checkpoint's own image processor (its PIL
  backend: no torchvision needed) and passes ``mm_token_type_ids`` (0 text, 1 image, 2 video),
  without which transformers 5 raises (Qwen2-VL) or silently uses wrong positions (Qwen2.5-VL).
  It also takes videos (:class:`~semcom_models.vlm_video.Video`): the frames are sampled,
  resized and patched by :mod:`semcom_models.vlm_video` (numpy and PIL, no torchvision), each
  video becomes its ``<|video_pad|>`` tokens, and the inputs carry ``pixel_values_videos``,
  ``video_grid_thw`` and, for Qwen2.5-VL, ``second_per_grid_ts`` (seconds per temporal patch).
* :class:`ChatProcessorAdapter` (LLaVA-OneVision, InternVL3-hf and other transformers VLMs with a
  chat template): the checkpoint's ``AutoProcessor`` and ``apply_chat_template``, images only
  (``supports_video`` is False: a captioner shows such a model several frames as images). In
  transformers 5 these processors build a video processor that needs torchvision; where
  torchvision is missing, loading fails with a clear error.

Images are uint8 H x W x 3 arrays (RGB), videos uint8 T x H x W x 3 with their frame rate. In a
turn, images come first, then videos, then the text. Batches are left-padded so that the last
position of every row is the position whose next token is asked for.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from semcom_models import model_paths
from semcom_models.vlm_video import Video, VideoOptions, preprocess_video

__all__ = ["Turn", "Video", "VideoOptions", "Conversation", "VLMAdapter", "QwenVLAdapter", "ChatProcessorAdapter",
           "build_adapter", "VLM", "QWEN_TYPES"]


@dataclass
class Turn:
    """One chat turn: ``role`` "user" or "assistant", images (uint8 H x W x 3), videos
    (:class:`~semcom_models.vlm_video.Video`), then text."""

    role: str
    text: str
    images: list[np.ndarray] = field(default_factory=list)
    videos: list[Video] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.role not in ("user", "assistant"):
            raise ValueError(f"role must be 'user' or 'assistant', got {self.role!r}")
        for im in self.images:
            a = np.asarray(im)
            if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
                raise ValueError(f"images must be uint8 H x W x 3, got {a.dtype} {a.shape}")
        for v in self.videos:
            if not isinstance(v, Video):
                raise ValueError(f"videos must be semcom_models.vlm_video.Video, got {type(v).__name__}")


Conversation = Sequence[Turn]


class VLMAdapter(ABC):
    """Turns a batch of conversations into the keyword arguments of the model's forward."""

    #: whether turns may carry videos (:class:`~semcom_models.vlm_video.Video`)
    supports_video: bool = False

    @abstractmethod
    def prepare(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        """Left-padded tensors for ``model(**inputs)``, ending with the assistant's turn opened."""

    @property
    @abstractmethod
    def tokenizer(self) -> Any:
        """The tokenizer (for decoding and for looking up answer tokens)."""


class QwenVLAdapter(VLMAdapter):
    """Qwen2-VL / Qwen2.5-VL: Qwen chat format, image and video pads expanded by their grids.

    ``video_options`` (:class:`~semcom_models.vlm_video.VideoOptions`): how videos are sampled
    and sized; change it with ``dataclasses.replace``. ``seconds_per_grid``: pass Qwen2.5-VL's
    ``second_per_grid_ts`` (True for model_type qwen2_5_vl)."""

    SYSTEM = "You are a helpful assistant."
    IMAGE, VIDEO = 1, 2   # mm_token_type_ids of image and video pads (text: 0)

    def __init__(self, tokenizer: Any, image_processor: Any, config: Any, video_options: VideoOptions | None = None):
        self._tok = tokenizer
        self.image_processor = image_processor
        ids = {t: tokenizer.convert_tokens_to_ids(t) for t in
               ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>")}
        missing = [t for t, i in ids.items() if i is None or i == tokenizer.unk_token_id]
        if missing:
            raise ValueError(f"tokenizer lacks Qwen special tokens {missing}")
        self.ids = ids
        self.image_token_id = getattr(config, "image_token_id", None) or ids["<|image_pad|>"]
        video_id = getattr(config, "video_token_id", None) or tokenizer.convert_tokens_to_ids("<|video_pad|>")
        self.video_token_id = None if video_id is None or video_id == tokenizer.unk_token_id else int(video_id)
        self.supports_video = self.video_token_id is not None
        self.merge = int(getattr(image_processor, "merge_size", 2))
        self.video_options = video_options or VideoOptions.from_checkpoint(None, image_processor)
        self.seconds_per_grid = getattr(config, "model_type", "") == "qwen2_5_vl"
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
        videos = [v for conv in conversations for turn in conv for v in turn.videos]
        if videos and not self.supports_video:
            raise ValueError("this checkpoint's tokenizer has no <|video_pad|> token: show frames as images")
        pixel = None
        counts: list[int] = []
        if images:
            pixel = self.image_processor(images=[np.asarray(im) for im in images], return_tensors="pt")
            grids = pixel["image_grid_thw"]
            counts = [int(g.prod()) // (self.merge ** 2) for g in grids]
        clips = [preprocess_video(v, self.video_options) for v in videos]
        k = j = 0
        rows = []
        nl = self._text("\n")
        start, end = self.ids["<|im_start|>"], self.ids["<|im_end|>"]
        v_start, v_end = self.ids["<|vision_start|>"], self.ids["<|vision_end|>"]
        for conv in conversations:
            ids = [start, *self._text("system\n" + self.SYSTEM), end, *nl]
            for turn in conv:
                if not turn.images and not turn.videos:   # tokenized as one piece, as the chat template renders it
                    ids += [start, *self._text(turn.role + "\n" + turn.text), end, *nl]
                    continue
                ids += [start, *self._text(turn.role + "\n")]
                for _ in turn.images:
                    ids += [v_start, *[self.image_token_id] * counts[k], v_end]
                    k += 1
                for _ in turn.videos:
                    ids += [v_start, *[self.video_token_id] * clips[j].n_tokens, v_end]
                    j += 1
                ids += [*self._text(turn.text), end, *nl]
            ids += [start, *self._text("assistant\n")]
            rows.append(ids)
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, width - len(r):] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r):] = 1
        types = (input_ids == self.image_token_id).to(torch.int32) * self.IMAGE
        if self.video_token_id is not None:
            types += (input_ids == self.video_token_id).to(torch.int32) * self.VIDEO
        out = {"input_ids": input_ids, "attention_mask": mask, "mm_token_type_ids": types * mask.to(torch.int32)}
        if pixel is not None:
            out["pixel_values"] = pixel["pixel_values"]
            out["image_grid_thw"] = pixel["image_grid_thw"]
        if clips:
            out["pixel_values_videos"] = torch.from_numpy(np.concatenate([c.pixel_values for c in clips]))
            out["video_grid_thw"] = torch.tensor([c.grid for c in clips], dtype=torch.long)
            if self.seconds_per_grid:
                out["second_per_grid_ts"] = torch.tensor([c.seconds_per_grid for c in clips], dtype=torch.float32)
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

        if any(turn.videos for conv in conversations for turn in conv):
            raise ValueError("this adapter takes images only: show a video's frames as images")
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
        return QwenVLAdapter(tok, ip, config, VideoOptions.from_checkpoint(path, ip))
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

    @property
    def supports_video(self) -> bool:
        """Whether conversations may carry videos (Qwen2-VL, Qwen2.5-VL)."""
        return bool(self.adapter.supports_video)

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

    #: float inputs kept in float32 (times, not activations): Qwen2.5-VL's seconds per temporal patch
    FLOAT32_INPUTS = ("second_per_grid_ts",)

    def _inputs(self, conversations: Sequence[Conversation]) -> dict[str, Any]:
        import torch

        inputs = self.adapter.prepare(conversations)
        out = {}
        for k, v in inputs.items():
            if isinstance(v, torch.Tensor):
                v = v.to(self.device)
                if v.is_floating_point() and k not in self.FLOAT32_INPUTS:
                    v = v.to(self.model.dtype)
            out[k] = v
        return out

    def generate(self, conversations: Sequence[Conversation], max_new_tokens: int = 64, *, do_sample: bool = False,
                 temperature: float = 1.0, top_p: float | None = None, top_k: int | None = None,
                 seed: int | None = None) -> list[str]:
        """Answers (decoded text, special tokens dropped) to a batch of conversations.

        Greedy by default. ``do_sample``: multinomial sampling at ``temperature``, within the
        ``top_p`` nucleus and the ``top_k`` most likely tokens where given (the checkpoint's own
        generation defaults for them are overridden, not inherited); ``seed`` seeds torch for this
        call only (the global random state is restored afterwards), so that an answer is a
        function of the conversations and the seed (on one device and dtype)."""
        import torch

        if not conversations:
            return []
        if do_sample and not temperature > 0:
            raise ValueError(f"temperature must be > 0 when sampling, got {temperature}")
        inputs = self._inputs(conversations)
        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        if do_sample:
            decoding = dict(do_sample=True, temperature=float(temperature), top_p=top_p if top_p is not None else 1.0,
                            top_k=top_k if top_k is not None else 0)
        else:
            decoding = dict(do_sample=False, temperature=None, top_p=None, top_k=None)
        devices = [torch.device(self.device).index or 0] if str(self.device).startswith("cuda") else []
        with torch.random.fork_rng(devices=devices, enabled=seed is not None), torch.inference_mode():
            if seed is not None:
                torch.manual_seed(int(seed))
            out = self.model.generate(**inputs, max_new_tokens=max_new_tokens, pad_token_id=pad, **decoding)
        new = out[:, inputs["input_ids"].shape[1]:]
        return [s.strip() for s in tok.batch_decode(new, skip_special_tokens=True)]

    def next_token_logits(self, conversations: Sequence[Conversation]) -> np.ndarray:
        """float32 (batch, vocab) logits of the token that would follow each conversation."""
        import torch

        inputs = self._inputs(conversations)
        with torch.inference_mode():
            out = self.model(**inputs, logits_to_keep=1)
        return out.logits[:, -1, :].float().cpu().numpy()

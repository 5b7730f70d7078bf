"""One call per reconstructed video and per caption, and hooks for downstream-task models.

:func:`video_metrics` always reports PSNR (dB), SSIM and MS-SSIM through
:mod:`semcom_models.metrics` (the project's one implementation; MS-SSIM is None for frames
smaller than it accepts), and adds LPIPS, DISTS and CLIP scores when their weights are found
locally. A metric that cannot run is listed under ``"skipped"`` with the reason (for a model
that is not configured: where it was looked for and the variable that sets it). Nothing is ever
downloaded.

:func:`caption_metrics` compares a caption with one or more reference captions: BLEU-4 and
ROUGE-L always, BERTScore when its encoder is found locally.

Downstream tasks: :func:`register_task` adds a named function ``fn(reference, reconstruction,
context) -> dict`` that :func:`video_metrics` runs on every pair (or :func:`run_tasks` alone).
:func:`captioning_task`, :func:`classification_task` and :func:`depth_task` turn a user's model
(any callable on uint8 T x H x W x 3 frames) into such a function; :func:`aggregate` averages
per-video results over a data set (e.g. accuracy = mean of ``top1``).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from semcom_models import metrics as base_metrics

from . import clip_score, perceptual, text_metrics

# What counts as "the model is not available here" (then the metric is skipped, not an error):
# missing folders and files (ModelNotFoundError and FileNotFoundError are OSErrors, as are
# transformers' "no file named ..." errors) and missing optional packages.
UNAVAILABLE = (OSError, ImportError)
DISABLED = "disabled by the caller"

TaskFn = Callable[[np.ndarray, np.ndarray, Mapping[str, Any]], Mapping[str, Any]]
_TASKS: dict[str, TaskFn] = {}


def _get(arg: Any, kind: type, load: Callable[[], Any]) -> tuple[Any, str | None]:
    """(model, None) or (None, reason): ``arg`` False disables, a ``kind`` instance is used as is,
    None (or a variant name, handled by ``load``) loads from the local model folders."""
    if arg is False:
        return None, DISABLED
    if isinstance(arg, kind):
        return arg, None
    try:
        return load(), None
    except UNAVAILABLE as e:
        return None, f"{type(e).__name__}: {e}"


def _lpips_loader(arg: Any, device: str | None) -> Callable[[], perceptual.LPIPS]:
    net = arg if isinstance(arg, str) else "alex"
    if arg is not None and not isinstance(arg, (str, perceptual.LPIPS)) and arg is not False:
        raise TypeError(f"lpips must be None, False, 'alex', 'vgg' or an LPIPS model, got {type(arg).__name__}")
    return lambda: perceptual.load_lpips(net, device=device)


def _frames_pair(reference: np.ndarray, reconstruction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b, _ = perceptual.check_pair(reference, reconstruction)
    return a, b


def video_metrics(reference: np.ndarray, reconstruction: np.ndarray, *, lpips: Any = None, dists: Any = None,
                  clip: Any = None, text: str | None = None, ms_ssim: bool = True, per_frame: bool = False,
                  tasks: Sequence[str] | None = None, task_context: Mapping[str, Any] | None = None,
                  device: str | None = None) -> dict[str, Any]:
    """Quality of ``reconstruction`` against ``reference`` (uint8 RGB, T x H x W x 3 or H x W x 3,
    one shape; no resizing).

    Keys (means over frames): ``psnr_db`` (capped at 100 dB for equal frames), ``ssim``,
    ``ms_ssim`` (None when the frames are too small, see semcom_models.metrics); when available
    ``lpips`` (and ``lpips_net``), ``dists``, ``clip_image`` (frame-level image-image cosine) and,
    with ``text``, ``clip_text`` / ``clip_text_reference`` (text-frame cosine on the
    reconstruction / the reference); ``frames``, ``height``, ``width``; ``skipped``: metric ->
    reason; ``per_frame``: lists per metric when ``per_frame``; ``tasks``: task name -> result.

    ``lpips``: None tries the default AlexNet LPIPS, "alex"/"vgg" that variant, an
    :class:`~semcom_host.eval.perceptual.LPIPS` is used as is, False skips it. ``dists`` (None,
    DISTS, False) and ``clip`` (None, CLIPScorer, False) likewise. ``tasks``: names of registered
    tasks to run (None: all registered, ``()``: none), each given ``task_context``.
    """
    a, b = _frames_pair(reference, reconstruction)
    out: dict[str, Any] = {"frames": int(a.shape[0]), "height": int(a.shape[1]), "width": int(a.shape[2])}
    skipped: dict[str, str] = {}
    frames: dict[str, list[float]] = {}

    q = base_metrics.video_quality(b, a, with_ms_ssim=ms_ssim)
    out.update(q.summary())
    frames["psnr_db"], frames["ssim"] = q.psnr.tolist(), q.ssim.tolist()
    if q.ms_ssim is not None:
        frames["ms_ssim"] = q.ms_ssim.tolist()
    elif not ms_ssim:
        skipped["ms_ssim"] = DISABLED
    else:
        need = base_metrics.ms_ssim_min_side()
        skipped["ms_ssim"] = (f"frames are {a.shape[1]} x {a.shape[2]}; 5-scale MS-SSIM needs at least "
                              f"{need} x {need}")

    model, why = _get(lpips, perceptual.LPIPS, _lpips_loader(lpips, device))
    if model is None:
        skipped["lpips"] = why  # type: ignore[assignment]
    else:
        v = np.atleast_1d(model.distance(a, b))
        out["lpips"], out["lpips_net"], frames["lpips"] = float(v.mean()), model.net_name, v.tolist()

    model, why = _get(dists, perceptual.DISTS, lambda: perceptual.load_dists(device=device))
    if model is None:
        skipped["dists"] = why  # type: ignore[assignment]
    else:
        v = np.atleast_1d(model.distance(a, b))
        out["dists"], frames["dists"] = float(v.mean()), v.tolist()

    model, why = _get(clip, clip_score.CLIPScorer, lambda: clip_score.load_clip(device=device))
    if model is None:
        skipped["clip_image"] = why  # type: ignore[assignment]
        if text is not None:
            skipped["clip_text"] = why  # type: ignore[assignment]
    else:
        v = np.atleast_1d(model.image_similarity(a, b))
        out["clip_image"], frames["clip_image"] = float(v.mean()), v.tolist()
        if text is not None:
            if model.tokenizer is None:
                skipped["clip_text"] = f"{model.name}: the CLIP folder has no tokenizer"
            else:
                t_rec, t_ref = model.text_similarity(text, b), model.text_similarity(text, a)
                out["clip_text"], out["clip_text_reference"] = float(t_rec.mean()), float(t_ref.mean())
                frames["clip_text"] = t_rec.tolist()

    names = registered_tasks() if tasks is None else tuple(tasks)
    if names:
        out["tasks"] = run_tasks(a, b, names, task_context)
    if per_frame:
        out["per_frame"] = frames
    out["skipped"] = skipped
    return out


def caption_metrics(reference_text: str | Sequence[str], text: str, bert: Any = None, *,
                    smooth: str | None = None, rouge_beta: float = 1.2,
                    idf: bool | tuple[dict[int, float], float] = False) -> dict[str, Any]:
    """BLEU-4, ROUGE-L and (when its encoder is available) BERTScore of caption ``text`` against
    one reference caption or several (see :mod:`semcom_host.eval.text_metrics`).

    Keys: ``bleu4``, ``rouge_l`` (F_beta, beta = ``rouge_beta``), ``rouge_l_precision``,
    ``rouge_l_recall``, ``bertscore_precision``, ``bertscore_recall``, ``bertscore_f1`` (best F
    over the references) and ``skipped``. ``bert``: None loads model ``bertscore`` when
    configured, a :class:`~semcom_host.eval.text_metrics.BERTScorer` is used as is, False skips.
    """
    refs = [reference_text] if isinstance(reference_text, str) else list(reference_text)
    if not refs:
        raise ValueError("at least one reference caption is needed")
    out: dict[str, Any] = {"bleu4": text_metrics.bleu(text, refs, smooth=smooth)}
    r = text_metrics.rouge_l(text, refs, beta=rouge_beta)
    out.update(rouge_l=r.f, rouge_l_precision=r.precision, rouge_l_recall=r.recall)
    skipped: dict[str, str] = {}
    scorer, why = _get(bert, text_metrics.BERTScorer, lambda: text_metrics.load_bertscore())
    if scorer is None:
        skipped["bertscore"] = why  # type: ignore[assignment]
    else:
        s = scorer.score_one(text, refs, idf=idf)
        out.update(bertscore_precision=s.precision, bertscore_recall=s.recall, bertscore_f1=s.f)
    out["skipped"] = skipped
    return out


def description_metrics(segments: Sequence[tuple[int, int, str]], reference: np.ndarray, reconstruction: np.ndarray,
                        *, clip: Any = None, bert: Any = None, captioner: Any = None, samples: int = 1,
                        device: str | None = None) -> dict[str, Any]:
    """How well the reconstruction carries the descriptions that were sent.

    ``segments``: (start, stop, caption) per described span (frames start..stop-1; one span for a
    clip caption). Keys: ``clip_text`` / ``clip_text_reference`` (CLIP text-frame cosine of each
    caption against its own frames of the reconstruction / the reference, averaged over frames),
    and with a ``captioner`` (any object with ``caption_segments(video, [(start, stop)])``, e.g.
    a :class:`semcom_models.captioners.VLMCaptioner`) ``bertscore`` (BERTScore F1 of the
    reconstruction's captions against the sent ones, averaged over segments) and
    ``captions_of_reconstruction``; ``skipped``: metric -> reason. ``samples`` > 1 (GVSC's video-level
    score: 3): each span is described that many times by sampling
    (:func:`semcom_models.captioners.recaption`, seeds 0..samples-1) and the BERTScores averaged.
    ``clip``, ``bert`` as in :func:`video_metrics` / :func:`caption_metrics` (None loads the
    configured model, False skips).
    """
    a, b = _frames_pair(reference, reconstruction)
    if a.ndim == 3:
        a, b = a[None], b[None]
    spans = [(int(s), int(e), str(c)) for s, e, c in segments if c and 0 <= s < e <= a.shape[0]]
    out: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    if not spans:
        out["skipped"] = {"clip_text": "no description was sent", "bertscore": "no description was sent"}
        return out
    model, why = _get(clip, clip_score.CLIPScorer, lambda: clip_score.load_clip(device=device))
    if model is None or model.tokenizer is None:
        skipped["clip_text"] = why or f"{model.name}: the CLIP folder has no tokenizer"
    else:
        rec = np.concatenate([model.text_similarity(c, b[s:e]) for s, e, c in spans])
        ref = np.concatenate([model.text_similarity(c, a[s:e]) for s, e, c in spans])
        out["clip_text"], out["clip_text_reference"] = float(rec.mean()), float(ref.mean())
    if captioner is None or captioner is False:
        skipped["bertscore"] = DISABLED if captioner is False else \
            "no captioner to describe the reconstruction (set the scheme's captioner param to a local VLM)"
    else:
        scorer, why = _get(bert, text_metrics.BERTScorer, lambda: text_metrics.load_bertscore())
        if scorer is None:
            skipped["bertscore"] = why  # type: ignore[assignment]
        else:
            if samples > 1:
                from semcom_models.captioners import recaption

                texts = [recaption(captioner, b[s:e], samples) for s, e, _ in spans]
            else:
                texts = [[t] for t in captioner.caption_segments(b, [(s, e) for s, e, _ in spans])]
            out["captions_of_reconstruction"] = [t[0] if len(t) == 1 else t for t in texts]
            out["bertscore"] = float(np.mean([np.mean([scorer.score_one(t, [c]).f for t in ts])
                                              for ts, (_, _, c) in zip(texts, spans)]))
    out["skipped"] = skipped
    return out


# ------------------------------------------------------------------------------------------------
# Downstream-task hooks
# ------------------------------------------------------------------------------------------------

def register_task(name: str, fn: TaskFn, *, replace: bool = False) -> None:
    """Register ``fn(reference, reconstruction, context) -> dict`` under ``name``.

    ``reference``/``reconstruction`` are uint8 T x H x W x 3; ``context`` is the mapping given to
    :func:`video_metrics` / :func:`run_tasks` (ground truth such as ``label``, ``caption``,
    ``depth``), empty when none. A name already taken is an error unless ``replace``.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"task name must be a non-empty string, got {name!r}")
    if not callable(fn):
        raise TypeError(f"task {name!r}: fn must be callable, got {type(fn).__name__}")
    if name in _TASKS and not replace:
        raise ValueError(f"task {name!r} is already registered (pass replace=True to replace it)")
    _TASKS[name] = fn


def unregister_task(name: str) -> None:
    """Remove task ``name`` (KeyError if it is not registered)."""
    if name not in _TASKS:
        raise KeyError(f"task {name!r} is not registered; registered: {sorted(_TASKS)}")
    del _TASKS[name]


def registered_tasks() -> tuple[str, ...]:
    """Names of the registered tasks, in registration order."""
    return tuple(_TASKS)


def run_tasks(reference: np.ndarray, reconstruction: np.ndarray, names: Sequence[str] | None = None,
              context: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Run registered tasks (all when ``names`` is None) on one pair; task name -> its result."""
    a, b = _frames_pair(reference, reconstruction)
    ctx = dict(context or {})
    out = {}
    for name in (registered_tasks() if names is None else names):
        if name not in _TASKS:
            raise KeyError(f"task {name!r} is not registered; registered: {sorted(_TASKS)}")
        res = _TASKS[name](a, b, ctx)
        if not isinstance(res, Mapping):
            raise TypeError(f"task {name!r} returned {type(res).__name__}, expected a dict of metrics")
        out[name] = dict(res)
    return out


def aggregate(results: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Mean of every numeric (int, float, bool) key over per-video results; keys missing from
    some results are averaged over those that have them. Nested values are ignored."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for r in results:
        for k, v in r.items():
            if isinstance(v, (bool, int, float, np.integer, np.floating)):
                sums[k] = sums.get(k, 0.0) + float(v)
                counts[k] = counts.get(k, 0) + 1
    return {k: sums[k] / counts[k] for k in sums}


def captioning_task(captioner: Any, *, bert: Any = False, smooth: str | None = "add1") -> TaskFn:
    """Captioning: caption the reconstruction with ``captioner`` (a callable frames -> str, or an
    object with ``caption(frames)`` such as :class:`semcom_models.captioners.Captioner`) and
    compare with ``context["caption"]`` (ground truth: a string or a list) when given, else with
    the caption of the reference. Returns :func:`caption_metrics` plus ``caption`` and
    ``reference_caption``. BERTScore only with a ``bert`` scorer (or None: the configured one).
    Sentence BLEU is smoothed ("add1") by default, since single captions often lack 4-gram matches.
    """
    describe = captioner.caption if hasattr(captioner, "caption") else captioner
    if not callable(describe):
        raise TypeError("captioner must be callable or have a caption(frames) method")

    def task(reference: np.ndarray, reconstruction: np.ndarray, context: Mapping[str, Any]) -> dict[str, Any]:
        ref = context.get("caption")
        if ref is None:
            ref = describe(reference)
        cand = describe(reconstruction)
        res = caption_metrics(ref, cand, bert=bert, smooth=smooth)
        res.update(caption=cand, reference_caption=ref)
        return res

    return task


def _scores(x: Any) -> np.ndarray:
    """Classifier output as a 1-D float array (a label int becomes a 0-d array)."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1) if np.ndim(x) else np.asarray(int(x))


def classification_task(classifier: Callable[[np.ndarray], Any], *, top_k: Sequence[int] = (1, 5)) -> TaskFn:
    """Action (or any) classification: ``classifier(frames)`` returns class scores (1-D, any
    monotone scale: logits or probabilities) or a class index.

    The target is ``context["label"]`` (ground truth) when given, else the class predicted on the
    reference (then ``label_from_reference`` is 1). Per video: ``top{k}`` = 1.0 if the target is
    among the k best classes of the reconstruction (k > 1 needs scores with at least k classes),
    ``agreement`` = 1.0 if the top classes of reconstruction and reference agree, and with ground
    truth ``reference_top1``. :func:`aggregate` over videos gives the accuracies.
    """
    ks = sorted({int(k) for k in top_k})
    if not ks or ks[0] < 1:
        raise ValueError(f"top_k must hold integers >= 1, got {top_k}")

    def top(s: np.ndarray) -> int:
        return int(s) if s.ndim == 0 else int(np.argmax(s))

    def task(reference: np.ndarray, reconstruction: np.ndarray, context: Mapping[str, Any]) -> dict[str, float]:
        s_rec, s_ref = _scores(classifier(reconstruction)), _scores(classifier(reference))
        label = context.get("label")
        res: dict[str, float] = {"agreement": float(top(s_rec) == top(s_ref))}
        if label is None:
            label = top(s_ref)
            res["label_from_reference"] = 1.0
        else:
            label = int(label)
            res["label_from_reference"] = 0.0
            res["reference_top1"] = float(top(s_ref) == label)
        for k in ks:
            if k == 1:
                res["top1"] = float(top(s_rec) == label)
            elif s_rec.ndim == 1 and s_rec.size >= k:
                best = np.argsort(-s_rec, kind="stable")[:k]
                res[f"top{k}"] = float(label in best.tolist())
        return res

    return task


def depth_errors(pred: np.ndarray, target: np.ndarray, *, min_depth: float = 1e-3,
                 max_depth: float | None = None, align: str | None = None) -> dict[str, float]:
    """Eigen et al. (2014) depth errors of ``pred`` against ``target`` (same shape, same units):
    ``abs_rel`` = mean |p - t| / t, ``sq_rel`` = mean (p - t)^2 / t, ``rmse``, ``rmse_log`` (natural
    log), ``delta1..3`` = share of pixels with max(p / t, t / p) < 1.25^k. Pixels count where the
    target is finite and within [min_depth, max_depth]; predictions are clipped to that range.
    ``align="median"`` first scales ``pred`` by median(target) / median(pred) (for models whose
    depth is known only up to scale)."""
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.shape != t.shape:
        raise ValueError(f"prediction and target depth differ in shape: {p.shape} vs {t.shape}")
    if align not in (None, "median"):
        raise ValueError(f"align must be None or 'median', got {align!r}")
    hi = np.inf if max_depth is None else max_depth
    valid = np.isfinite(t) & (t >= min_depth) & (t <= hi) & np.isfinite(p)
    if not valid.any():
        raise ValueError("no valid target depth pixels")
    p, t = p[valid], t[valid]
    if align == "median":
        mp = np.median(p)
        if mp <= 0:
            raise ValueError("median of the predicted depth is not positive; cannot align")
        p = p * (np.median(t) / mp)
    p = np.clip(p, min_depth, hi)
    ratio = np.maximum(p / t, t / p)
    return {
        "abs_rel": float(np.mean(np.abs(p - t) / t)),
        "sq_rel": float(np.mean((p - t) ** 2 / t)),
        "rmse": float(math.sqrt(np.mean((p - t) ** 2))),
        "rmse_log": float(math.sqrt(np.mean((np.log(p) - np.log(t)) ** 2))),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25 ** 2)),
        "delta3": float(np.mean(ratio < 1.25 ** 3)),
    }


def depth_task(depth_model: Callable[[np.ndarray], Any], *, min_depth: float = 1e-3,
               max_depth: float | None = None, align: str | None = None) -> TaskFn:
    """Depth estimation: ``depth_model(frames)`` returns depth T x H x W (or anything of the
    frames' shape without the channel axis). The target is ``context["depth"]`` (ground truth)
    when given, else the model's depth of the reference; the result is :func:`depth_errors`.
    """
    def as_array(x: Any) -> np.ndarray:
        if hasattr(x, "detach"):
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=np.float64)

    def task(reference: np.ndarray, reconstruction: np.ndarray, context: Mapping[str, Any]) -> dict[str, float]:
        target = context.get("depth")
        target = as_array(depth_model(reference) if target is None else target)
        return depth_errors(as_array(depth_model(reconstruction)), target, min_depth=min_depth,
                            max_depth=max_depth, align=align)

    return task

"""Caption similarity: BLEU-4 and ROUGE-L (pure Python) and BERTScore (a local BERT-like model).

Tokens for BLEU and ROUGE-L: :func:`tokenize` lower-cases the text and keeps runs of letters and
digits (``\\w+``), dropping punctuation, close to the COCO caption evaluation (whose PTB tokenizer
removes punctuation). Pre-tokenised input (a list of strings) is used as is.

- BLEU (Papineni et al., 2002): modified (clipped) n-gram precisions p_1..p_N, N = 4, uniform
  weights, geometric mean times the brevity penalty BP = exp(1 - r / c) when c < r (c candidate
  length, r the reference length closest to c, the shorter on a tie). Without smoothing a zero
  p_n makes BLEU 0 (what a single short caption often gives); ``smooth="add1"`` adds 1 to the
  numerator and denominator of p_n for n >= 2 (Lin and Och, 2004). :func:`corpus_bleu` sums the
  counts over all captions first, as the paper does. Range [0, 1].
- ROUGE-L (Lin, 2004): from the longest common subsequence, R = LCS / len(reference),
  P = LCS / len(candidate), F = (1 + beta^2) P R / (R + beta^2 P). With several references the
  best P and best R are taken separately (the COCO caption evaluation's rule). Default beta = 1.2
  (COCO caption evaluation); beta = 1 gives the F1 of the rouge-score package. Range [0, 1].
- BERTScore (Zhang et al., ICLR 2020): contextual token embeddings of one hidden layer of a local
  model (AutoModel/AutoTokenizer), unit-normalised; each candidate token is matched greedily to its
  most similar reference token (precision) and vice versa (recall); F = 2PR / (P + R). Tokens the
  tokenizer adds ([CLS], [SEP], <s>, </s>) take part in the matching but carry weight 0, as in
  the bert_score package. Optional idf weights from the reference captions, and optional baseline
  rescaling (x - b) / (1 - b). Identical captions give 1 (up to float rounding).
"""
from __future__ import annotations

import math
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from semcom_models import model_paths

Tokens = Sequence[str]

# Hidden layer bert_score uses by default for some common checkpoints (folder name -> layer).
BERTSCORE_LAYERS = {
    "roberta-large": 17, "roberta-base": 10, "bert-base-uncased": 9, "bert-large-uncased": 18,
    "distilbert-base-uncased": 5, "deberta-xlarge-mnli": 40,
}


class PRF(NamedTuple):
    """Precision, recall and F-measure."""

    precision: float
    recall: float
    f: float


def tokenize(text: str | Sequence[str]) -> list[str]:
    """Lower-cased runs of letters/digits of ``text``; a list of tokens is returned unchanged."""
    if isinstance(text, str):
        return re.findall(r"\w+", text.lower())
    return list(text)


def _refs(references: str | Sequence) -> list[list[str]]:
    """References as token lists: a string is one reference; a sequence holds several, each a
    string or a list of tokens (so one pre-tokenised reference is passed as ``[tokens]``)."""
    if isinstance(references, str):
        return [tokenize(references)]
    refs = [tokenize(r) if isinstance(r, str) else list(r) for r in references]
    if not refs:
        raise ValueError("at least one reference is needed")
    return refs


# ------------------------------------------------------------------------------------------------
# BLEU
# ------------------------------------------------------------------------------------------------

def ngrams(tokens: Tokens, n: int) -> Counter:
    """Counts of the n-grams (tuples) of ``tokens``."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def modified_precision(candidate: Tokens, references: Sequence[Tokens], n: int) -> tuple[int, int]:
    """(clipped matches, candidate n-grams): each candidate n-gram counts at most as often as it
    occurs in any single reference (Papineni et al., section 2.1)."""
    cand = ngrams(candidate, n)
    max_ref: Counter = Counter()
    for r in references:
        for g, c in ngrams(r, n).items():
            max_ref[g] = max(max_ref[g], c)
    clipped = sum(min(c, max_ref[g]) for g, c in cand.items())
    return clipped, sum(cand.values())


def closest_ref_length(candidate_len: int, references: Sequence[Tokens]) -> int:
    """The reference length closest to the candidate's (the shorter on a tie)."""
    return min((abs(len(r) - candidate_len), len(r)) for r in references)[1]


def _bleu_from_counts(matches: Sequence[int], totals: Sequence[int], c: int, r: int, smooth: str | None) -> float:
    if c == 0:
        return 0.0
    logs = []
    for n, (m, t) in enumerate(zip(matches, totals), start=1):
        if smooth == "add1" and n >= 2:
            m, t = m + 1, t + 1
        if t == 0 or m == 0:
            return 0.0
        logs.append(math.log(m / t))
    bp = 1.0 if c > r else math.exp(1 - r / c)
    return bp * math.exp(sum(logs) / len(logs))


def _check_smooth(smooth: str | None) -> None:
    if smooth not in (None, "add1"):
        raise ValueError(f"smooth must be None or 'add1', got {smooth!r}")


def bleu(candidate: str | Tokens, references: str | Sequence, max_n: int = 4, smooth: str | None = None) -> float:
    """Sentence BLEU-``max_n`` of one candidate against one or more references, in [0, 1]."""
    _check_smooth(smooth)
    cand, refs = tokenize(candidate), _refs(references)
    counts = [modified_precision(cand, refs, n) for n in range(1, max_n + 1)]
    return _bleu_from_counts([m for m, _ in counts], [t for _, t in counts], len(cand),
                             closest_ref_length(len(cand), refs), smooth)


def corpus_bleu(candidates: Sequence[str | Tokens], references: Sequence[str | Sequence], max_n: int = 4,
                smooth: str | None = None) -> float:
    """Corpus BLEU: n-gram counts and lengths summed over all candidates before the mean and BP."""
    _check_smooth(smooth)
    if len(candidates) != len(references):
        raise ValueError(f"{len(candidates)} candidates but {len(references)} reference sets")
    matches, totals, c, r = [0] * max_n, [0] * max_n, 0, 0
    for cand_text, ref_texts in zip(candidates, references):
        cand, refs = tokenize(cand_text), _refs(ref_texts)
        for n in range(1, max_n + 1):
            m, t = modified_precision(cand, refs, n)
            matches[n - 1] += m
            totals[n - 1] += t
        c += len(cand)
        r += closest_ref_length(len(cand), refs)
    return _bleu_from_counts(matches, totals, c, r, smooth)


# ------------------------------------------------------------------------------------------------
# ROUGE-L
# ------------------------------------------------------------------------------------------------

def lcs_length(a: Tokens, b: Tokens) -> int:
    """Length of the longest common subsequence of two token lists (O(len(a) len(b)))."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(candidate: str | Tokens, references: str | Sequence, beta: float = 1.2) -> PRF:
    """ROUGE-L precision, recall and F_beta of one candidate against one or more references."""
    cand, refs = tokenize(candidate), _refs(references)
    if not cand or not any(refs):
        return PRF(0.0, 0.0, 0.0)
    precs, recs = [], []
    for r in refs:
        lcs = lcs_length(cand, r)
        precs.append(lcs / len(cand))
        recs.append(lcs / len(r) if r else 0.0)
    p, r = max(precs), max(recs)
    if p == 0 or r == 0:
        return PRF(p, r, 0.0)
    f = (1 + beta ** 2) * p * r / (r + beta ** 2 * p)
    return PRF(p, r, f)


# ------------------------------------------------------------------------------------------------
# BERTScore
# ------------------------------------------------------------------------------------------------

def read_baseline(path: str | os.PathLike, layer: int) -> tuple[float, float, float]:
    """(P, R, F) baseline of ``layer`` from a bert_score ``rescale_baseline`` CSV file
    (header ``LAYER,P,R,F``, one row per layer)."""
    lines = [ln.strip() for ln in Path(path).read_text(encoding="utf-8").splitlines() if ln.strip()]
    header = [h.strip() for h in lines[0].split(",")]
    idx = {h: i for i, h in enumerate(header)}
    if not {"LAYER", "P", "R", "F"} <= set(idx):
        raise ValueError(f"{path}: expected a header LAYER,P,R,F, got {lines[0]!r}")
    for ln in lines[1:]:
        cells = [c.strip() for c in ln.split(",")]
        if int(float(cells[idx["LAYER"]])) == layer:
            return tuple(float(cells[idx[k]]) for k in ("P", "R", "F"))  # type: ignore[return-value]
    raise ValueError(f"{path}: no baseline row for layer {layer}")


def idf_weights(token_id_lists: Sequence[Sequence[int]]) -> tuple[dict[int, float], float]:
    """idf(w) = log((M + 1) / (df(w) + 1)) over M reference captions (bert_score's definition);
    returns the table and the value for unseen tokens, log(M + 1)."""
    m = len(token_id_lists)
    df: Counter = Counter()
    for ids in token_id_lists:
        df.update({int(i) for i in ids})
    return {t: math.log((m + 1) / (c + 1)) for t, c in df.items()}, math.log(m + 1)


class BERTScorer:
    """BERTScore with a local transformers encoder (see the module note).

    ``layer``: index into ``hidden_states`` (0 = embeddings, L = last layer); None takes the
    layer bert_score uses for a known checkpoint folder name (:data:`BERTSCORE_LAYERS`, e.g. 17
    for roberta-large), else the last layer. ``baseline``: (P, R, F) to rescale with, or None.
    """

    def __init__(self, model: Any, tokenizer: Any, *, layer: int | None = None, device: str = "cpu",
                 baseline: tuple[float, float, float] | None = None, name: str = "bertscore"):
        self.model = model
        self.tokenizer = tokenizer
        n_layers = int(getattr(model.config, "num_hidden_layers", 0)) or None
        self.layer = n_layers if layer is None else int(layer)
        if self.layer is None:
            raise ValueError("layer must be given for a model whose config has no num_hidden_layers")
        if n_layers is not None and not 0 <= self.layer <= n_layers:
            raise ValueError(f"layer {self.layer} outside 0..{n_layers}")
        self.device = device
        self.baseline = None if baseline is None else tuple(float(b) for b in baseline)
        self.name = name

    @classmethod
    def load(cls, name: str = "bertscore", path: str | os.PathLike | None = None, *, layer: int | None = None,
             baseline: tuple[float, float, float] | str | os.PathLike | None = None,
             config: str | os.PathLike | None = None, device: str | None = None) -> "BERTScorer":
        """Load a local encoder folder (model ``bertscore`` in model_paths, or ``path``); float32.

        ``baseline`` may be a (P, R, F) tuple or a bert_score baseline CSV file (row ``layer``).
        """
        import torch
        from transformers import AutoModel, AutoTokenizer

        p = model_paths.resolve_model_path(name, path, config=config)
        device = model_paths.torch_device_dtype(device, torch.float32)[0]
        tok = model_paths.from_pretrained(AutoTokenizer, p)
        model = model_paths.from_pretrained(AutoModel, p, dtype=torch.float32).to(device).eval()
        if layer is None:
            layer = BERTSCORE_LAYERS.get(Path(p).name)
        scorer = cls(model, tok, layer=layer, device=device, name=name)
        if baseline is not None and not isinstance(baseline, tuple):
            baseline = read_baseline(baseline, scorer.layer)
        scorer.baseline = None if baseline is None else tuple(float(b) for b in baseline)
        return scorer

    def _encode(self, texts: Sequence[str]) -> list[tuple[Any, np.ndarray, np.ndarray]]:
        """Per text: (unit-norm token embeddings L x D, token ids, special-token mask)."""
        import torch

        max_len = min(int(getattr(self.tokenizer, "model_max_length", 512) or 512), 512)
        enc = self.tokenizer(list(texts), padding=True, truncation=True, max_length=max_len,
                             return_tensors="pt", return_special_tokens_mask=True)
        special = enc.pop("special_tokens_mask")
        inputs = {k: v.to(self.device) for k, v in enc.items()
                  if k in ("input_ids", "attention_mask", "token_type_ids")}
        with torch.no_grad():
            out = self.model(**inputs, output_hidden_states=True)
        hidden = out.hidden_states[self.layer].double()
        emb = torch.nn.functional.normalize(hidden, dim=-1).cpu()
        res = []
        for i in range(len(texts)):
            keep = enc["attention_mask"][i].bool()
            res.append((emb[i][keep], enc["input_ids"][i][keep].numpy(), special[i][keep].numpy().astype(bool)))
        return res

    def idf_table(self, corpus: Sequence[str]) -> tuple[dict[int, float], float]:
        """idf weights (:func:`idf_weights`) of this tokenizer's token ids over reference ``corpus``."""
        ids = self.tokenizer(list(corpus), add_special_tokens=False)["input_ids"]
        return idf_weights(ids)

    def score(self, candidates: Sequence[str], references: Sequence[str],
              idf: bool | tuple[dict[int, float], float] = False) -> list[PRF]:
        """BERTScore (P, R, F1) of each candidate against its reference (same length lists).

        ``idf``: False weighs every token 1; True weighs tokens by idf computed from
        ``references`` (which then should be a corpus of many captions: a token in every
        reference has idf 0); or a table from :meth:`idf_table` over a larger reference corpus.
        Empty texts score 0. Baseline rescaling is applied when the scorer has a baseline.
        """
        if len(candidates) != len(references):
            raise ValueError(f"{len(candidates)} candidates but {len(references)} references")
        if not candidates:
            return []
        cands, refs = self._encode(candidates), self._encode(references)
        if idf is True:
            table, unseen = idf_weights([ids[~sp] for _, ids, sp in refs])
        elif idf:
            table, unseen = idf
        out = []
        for (ce, cid, csp), (re_, rid, rsp), ctext, rtext in zip(cands, refs, candidates, references):
            if not ctext.strip() or not rtext.strip() or csp.all() or rsp.all():
                out.append(self._rescale(PRF(0.0, 0.0, 0.0)))
                continue
            sim = (ce @ re_.T).double().numpy()
            if idf:
                cw = np.array([table.get(int(t), unseen) for t in cid])
                rw = np.array([table.get(int(t), unseen) for t in rid])
            else:
                cw, rw = np.ones(len(cid)), np.ones(len(rid))
            cw[csp], rw[rsp] = 0.0, 0.0
            if cw.sum() <= 0 or rw.sum() <= 0:
                raise ValueError(f"all idf weights are 0 for {ctext!r} / {rtext!r}: compute idf over a "
                                 "corpus of several references (BERTScorer.idf_table)")
            p = float((sim.max(axis=1) * cw).sum() / cw.sum())
            r = float((sim.max(axis=0) * rw).sum() / rw.sum())
            f = 2 * p * r / (p + r) if p + r > 0 else 0.0
            out.append(self._rescale(PRF(p, r, f)))
        return out

    def _rescale(self, s: PRF) -> PRF:
        if self.baseline is None:
            return s
        return PRF(*[(v - b) / (1 - b) for v, b in zip(s, self.baseline)])

    def score_one(self, candidate: str, references: str | Sequence[str],
                  idf: bool | tuple[dict[int, float], float] = False) -> PRF:
        """BERTScore of one candidate against one or several references (the best F is kept,
        as bert_score does with multiple references)."""
        refs = [references] if isinstance(references, str) else list(references)
        scores = self.score([candidate] * len(refs), refs, idf=idf)
        return max(scores, key=lambda s: s.f)


_CACHE: dict[tuple, BERTScorer] = {}


def load_bertscore(name: str = "bertscore", path: str | os.PathLike | None = None, *, layer: int | None = None,
                   baseline: tuple[float, float, float] | str | os.PathLike | None = None,
                   config: str | os.PathLike | None = None, device: str | None = None,
                   cache: bool = True) -> BERTScorer:
    """:meth:`BERTScorer.load`, cached per (resolved path, layer, baseline, device)."""
    import torch

    p = model_paths.resolve_model_path(name, path, config=config)
    dev = model_paths.torch_device_dtype(device, torch.float32)[0]
    key = (str(p.resolve()), layer, str(baseline), dev)
    if cache and key in _CACHE:
        return _CACHE[key]
    scorer = BERTScorer.load(name, p, layer=layer, baseline=baseline, device=dev)
    if cache:
        _CACHE[key] = scorer
    return scorer

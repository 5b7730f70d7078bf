"""PSSS score on constructed logits, SKEM's walk with a stand-in scorer, and SKEM end to end on a
tiny random Qwen2.5-VL / Qwen2-VL built offline and loaded through semcom_models.vlm."""
import numpy as np
import pytest

from semcom_models.psss import DEFAULT_ETA, SKEM, PSSSScorer, answer_token_ids, psss_score, select_keyframes

# ---- the score, a pure function of logits and token sets ----


def test_spellings_are_summed_and_renormalized():
    logits = np.full(10, -50.0)
    logits[[1, 2]] = 0.0          # two spellings of yes
    logits[3] = 0.0               # one of no
    assert psss_score(logits, [1, 2], [3]) == pytest.approx(1 / 3 - 2 / 3)
    # Tokens outside the yes/no set do not matter, however likely: the score is renormalized.
    logits[7] = 30.0
    assert psss_score(logits, [1, 2], [3]) == pytest.approx(-1 / 3)
    # Leaving a spelling out changes the answer (LGVSC's capitalised-only reading).
    assert psss_score(logits, [1], [3]) == pytest.approx(0.0)


def test_sign_range_and_batch():
    v = 6
    no_wins = np.zeros(v)
    no_wins[4] = 5.0
    yes_wins = np.zeros(v)
    yes_wins[0] = 5.0
    s = psss_score(np.stack([no_wins, yes_wins]), [0], [4])
    assert s.shape == (2,) and s[0] > 0.98 and s[1] < -0.98
    p_no = 1 / (1 + np.exp(-5.0))
    assert s[0] == pytest.approx(2 * p_no - 1)
    big = np.array([1e4, 1e4 - 1.0, 0.0])                  # no overflow with large logits
    assert psss_score(big, [0], [1]) == pytest.approx((np.exp(-1) - 1) / (np.exp(-1) + 1))
    assert psss_score(np.zeros(4), [0, 1], [2, 3]) == 0.0


def test_score_argument_errors():
    with pytest.raises(ValueError, match="both"):
        psss_score(np.zeros(4), [1], [1])
    with pytest.raises(ValueError, match="non-empty"):
        psss_score(np.zeros(4), [], [1])
    with pytest.raises(ValueError, match="vocabulary"):
        psss_score(np.zeros(4), [0], [4])


# ---- SKEM's walk ----


def scene_scorer(scenes, log):
    def score(pairs):
        log.append(list(pairs))
        return [1.0 if scenes[a] != scenes[b] else -1.0 for a, b in pairs]
    return score


@pytest.mark.parametrize("batch", [1, 2, 3, 16])
def test_walk_is_the_same_for_any_batch_size(batch):
    scenes = [0, 0, 0, 1, 1, 2, 2, 2, 3, 3]
    log = []
    sel = select_keyframes(len(scenes), scene_scorer(scenes, log), eta=DEFAULT_ETA, batch_size=batch)
    assert sel.keyframes == [0, 3, 5, 8, 9]
    # Every recorded score compares a frame with the keyframe that was latest at the time.
    for (ref, j), s in sel.pair_scores.items():
        assert ref == max(k for k in sel.keyframes if k < j)
        assert s == (1.0 if scenes[ref] != scenes[j] else -1.0)
    assert sel.pairs_scored == sum(len(b) for b in log) >= len(scenes) - 2
    assert all(len(b) <= batch for b in log)
    assert np.isfinite(sel.seconds_per_pair) and sel.method == "skem" and sel.ratio == 0.5
    assert sel.indices.dtype == np.int64 and sel.indices.tolist() == sel.keyframes
    per_frame = sel.scores
    assert per_frame.shape == (10,) and np.isnan(per_frame[0]) and np.isnan(per_frame[9])
    assert per_frame[3] == 1.0 and per_frame[1] == -1.0


def test_walk_edges():
    assert select_keyframes(1, lambda p: []).keyframes == [0]
    assert select_keyframes(2, lambda p: []).keyframes == [0, 1]
    # A score equal to eta does not make a keyframe; the last frame is kept regardless.
    sel = select_keyframes(5, lambda p: [0.35] * len(p), eta=0.35, batch_size=2)
    assert sel.keyframes == [0, 4]
    assert select_keyframes(5, lambda p: [0.36] * len(p), eta=0.35).keyframes == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="scores for"):
        select_keyframes(5, lambda p: [0.0])
    with pytest.raises(ValueError):
        select_keyframes(5, lambda p: [0.0] * len(p), batch_size=0)


# ---- end to end on tiny random VLMs ----

@pytest.fixture(scope="module")
def tiny_vlms(tmp_path_factory):
    pytest.importorskip("transformers")
    from helpers import tiny_models as tm
    from semcom_models.vlm import VLM

    root = tmp_path_factory.mktemp("vlm")
    with tm.torch_threads(1):
        yield {v: VLM.load("qwen2.5-vl", tm.save_qwen_vl(root / v, version=v), device="cpu") for v in ("2.5", "2")}


def test_answer_tokens_in_a_byte_level_vocabulary(tiny_vlms):
    tok = tiny_vlms["2.5"].tokenizer
    yes = answer_token_ids(tok, "yes")
    single = {s: tok.encode(s, add_special_tokens=False) for s in ("yes", " yes", "Yes", " Yes", "YES", " YES")}
    assert set(yes) == {ids[0] for ids in single.values() if len(ids) == 1}
    assert len(yes) >= 3 and any(len(ids) > 1 for ids in single.values())   # some spellings are 2 tokens
    assert not set(yes) & set(answer_token_ids(tok, "no"))


def test_answer_tokens_skip_unknown_words():
    from helpers import tiny_models as tm

    tok = tm.word_tokenizer()          # knows "yes" and "no" in lowercase only
    assert answer_token_ids(tok, "yes") == (tok.convert_tokens_to_ids("yes"),)
    assert answer_token_ids(tok, "no") == (tok.convert_tokens_to_ids("no"),)


@pytest.mark.parametrize("version", ["2.5", "2"])
def test_skem_end_to_end(tiny_vlms, version):
    from helpers import tiny_models as tm

    vlm = tiny_vlms[version]
    frames = np.random.default_rng(0).integers(0, 256, (6, 56, 84, 3), dtype=np.uint8)
    with tm.torch_threads(1):
        scorer = PSSSScorer(vlm, max_new_tokens=4)
        sel = SKEM(scorer, eta=-1.0, batch_size=3).run(frames)            # every score > -1
        assert sel.keyframes == [0, 1, 2, 3, 4, 5]
        assert len(scorer.last_descriptions) >= 1 and all(isinstance(d, str) for d in scorer.last_descriptions)
        skem = SKEM(scorer, eta=DEFAULT_ETA, batch_size=4)
        a, b = skem.run(frames), skem.run(frames)
        assert a.keyframes == b.keyframes and a.pair_scores == b.pair_scores                # deterministic
        assert a.keyframes[0] == 0 and a.keyframes[-1] == 5
        single = SKEM(scorer, eta=DEFAULT_ETA, batch_size=1).run(frames)
        assert single.keyframes == a.keyframes
        for k in single.pair_scores:
            assert single.pair_scores[k] == pytest.approx(a.pair_scores[k], abs=1e-5)     # batching changes nothing
        assert all(-1 <= s <= 1 for s in a.pair_scores.values())
    print(f"\nPSSS tiny Qwen{version}-VL, 56x84 frames: {a.seconds_per_pair * 1e3:.1f} ms per frame pair "
          f"(batch 4), {single.seconds_per_pair * 1e3:.1f} ms (batch 1)")


def test_skem_rejects_bad_frames(tiny_vlms):
    skem = SKEM(PSSSScorer(tiny_vlms["2.5"]))
    with pytest.raises(ValueError, match="uint8"):
        skem.run(np.zeros((4, 8, 8, 3), np.float32))


def test_qwen_prompt_matches_the_chat_format(tiny_vlms):
    """The adapter's ids equal the tokenized Qwen chat format with each image's pads expanded."""
    from semcom_models.vlm import Turn

    vlm = tiny_vlms["2.5"]
    img = np.zeros((56, 84, 3), np.uint8)
    conv = [Turn("user", "Describe both.", [img, img]), Turn("assistant", "a man"), Turn("user", "Same?")]
    inputs = vlm.adapter.prepare([conv])
    n = int(inputs["image_grid_thw"][0].prod()) // 4          # merge 2 x 2
    pads = "<|vision_start|>" + "<|image_pad|>" * n + "<|vision_end|>"
    text = ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
            f"<|im_start|>user\n{pads}{pads}Describe both.<|im_end|>\n"
            "<|im_start|>assistant\na man<|im_end|>\n<|im_start|>user\nSame?<|im_end|>\n<|im_start|>assistant\n")
    assert inputs["input_ids"][0].tolist() == vlm.tokenizer.encode(text, add_special_tokens=False)
    assert int(inputs["mm_token_type_ids"].sum()) == 2 * n and inputs["pixel_values"].shape[0] == 2 * 4 * n

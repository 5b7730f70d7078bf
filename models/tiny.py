"""Tiny randomly initialised models, built offline: for the tests and for `semcom models tiny`.

Every builder constructs a model from a config (nothing is downloaded), seeds torch first so the
weights are the same on every run, and saves it into a folder given by the caller, in the layout
the real checkpoint has (``save_pretrained`` for transformers and diffusers; the published weight
files for PiDiNet, HED, LPIPS and DISTS). Loading such a folder back through gr-semcom's own
local-path code (:mod:`semcom_models.model_paths`) proves that loading works without a model hub.

:func:`write_tiny_models` writes one tiny model per known model name into ``root/<folder>``
(the folder names of :data:`~semcom_models.model_paths.KNOWN_MODELS`), so that
``SEMCOM_MODEL_DIR=root`` finds every one (`semcom models tiny DIR`, docs/generative.md).

The configs follow ../shared/reference/tiny-models.md: they are the smallest that run each
pipeline end to end on a CPU in a second or two (LPIPS and DISTS keep their full-size AlexNet and
VGG16 backbones: the metrics' loaders check every shape). Generated pixels are noise and the
metrics' distances are meaningless; only shapes, dtypes, determinism and the plumbing are.
"""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Callable

import torch

from semcom_models.model_paths import default_folder


@contextlib.contextmanager
def torch_threads(n: int = 1):
    """Run torch on ``n`` threads: tiny models on a small shared machine are many times faster on
    one thread than on several (thread start-up dominates their microsecond kernels)."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


# A handful of words is enough: the tiny text encoders only need token ids that exist.
_SENTENCES = [
    "a man in a bowler hat walks a dog along the beach at sunset",
    "two frames show the same scene yes no describe the first and second image",
    "a red car drives down a street in the rain camera pans left",
    "semantic focus objects people motion background",
]


def word_tokenizer(model_max_length: int = 128):
    """A WordLevel fast tokenizer (special tokens <pad> </s> <unk>, appends </s>), T5-like."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"], show_progress=False)
    tok.train_from_iterator(_SENTENCES, trainer)
    eos = tok.token_to_id("</s>")
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=model_max_length)


def t5_encoder(vocab_size: int, d_model: int = 32, umt5: bool = False):
    """A 2-layer T5 (or UMT5) encoder with hidden size ``d_model``."""
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    cfg_cls, model_cls = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    torch.manual_seed(0)
    cfg = cfg_cls(vocab_size=vocab_size, d_model=d_model, d_kv=8, d_ff=37, num_layers=2, num_heads=4,
                  relative_attention_num_buckets=8, dropout_rate=0.0)
    return model_cls(cfg).eval()


# ---------------------------------------------------------------------------------------------
# Video diffusion pipelines (diffusers)
# ---------------------------------------------------------------------------------------------

def save_ltx(path: Path) -> Path:
    """Tiny LTX-Video pipeline (4x compression in space and time): any 4k+1 frames, sizes of 32."""
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    tok = word_tokenizer()
    text_encoder = t5_encoder(len(tok))
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4,
        attention_head_dim=8, cross_attention_dim=32, num_layers=1, caption_channels=32)
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8), layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False)
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    pipe = LTXPipeline(scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=text_encoder,
                       tokenizer=tok, transformer=transformer)
    pipe.save_pretrained(path)
    return Path(path)


def _wan_vae():
    from diffusers import AutoencoderKLWan

    torch.manual_seed(0)
    return AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                            temperal_downsample=[False, True, True])


def save_wan_i2v(path: Path, first_last: bool = False) -> Path:
    """Tiny Wan 2.1 image-to-video pipeline (8x space, 4x time); ``first_last``: the FLF2V variant."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    tok = word_tokenizer()
    text_encoder = t5_encoder(len(tok), umt5=True)
    torch.manual_seed(0)
    extra = {"pos_embed_seq_len": 2 * (4 * 4 + 1)} if first_last else {}
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, image_dim=4, **extra)
    torch.manual_seed(0)
    image_encoder = CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=4,
        intermediate_size=16, patch_size=1))
    pipe = WanImageToVideoPipeline(
        tokenizer=tok, text_encoder=text_encoder, vae=_wan_vae(),
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        image_processor=CLIPImageProcessor(crop_size=4, size=4), image_encoder=image_encoder,
        transformer=transformer)
    pipe.save_pretrained(path)
    return Path(path)


def save_wan_vace(path: Path) -> Path:
    """Tiny Wan 2.1 VACE pipeline (control video + mask + reference images)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanVACEPipeline, WanVACETransformer3DModel

    tok = word_tokenizer()
    text_encoder = t5_encoder(len(tok), umt5=True)
    torch.manual_seed(0)
    transformer = WanVACETransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=32, freq_dim=256, ffn_dim=32, num_layers=3, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", rope_max_seq_len=32, vace_layers=[0, 2], vace_in_channels=96)
    pipe = WanVACEPipeline(tokenizer=tok, text_encoder=text_encoder, vae=_wan_vae(),
                           scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), transformer=transformer)
    pipe.save_pretrained(path)
    return Path(path)


def save_svd(path: Path, num_frames: int = 6) -> Path:
    """Tiny Stable Video Diffusion pipeline whose native clip length is ``num_frames``."""
    from diffusers import (
        AutoencoderKLTemporalDecoder,
        EulerDiscreteScheduler,
        StableVideoDiffusionPipeline,
        UNetSpatioTemporalConditionModel,
    )
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
        cross_attention_dim=32, num_attention_heads=8, projection_class_embeddings_input_dim=96,
        addition_time_embed_dim=32, num_frames=num_frames)
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
        steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True)
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=[32, 64], in_channels=3, out_channels=3,
                                       down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
                                       latent_channels=4)
    torch.manual_seed(0)
    # The pipeline resizes PIL images to 224 x 224 for the CLIP encoder (tiny-models.md).
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224,
        intermediate_size=37, patch_size=32))
    pipe = StableVideoDiffusionPipeline(vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler,
                                        feature_extractor=CLIPImageProcessor(crop_size=224, size=224))
    pipe.save_pretrained(path)
    return Path(path)


def save_cogvideox(path: Path, image_to_video: bool = False) -> Path:
    """Tiny CogVideoX pipeline (text-to-video, or image-to-video); 16 x 16 pixels, 4k+1 frames."""
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXImageToVideoPipeline,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
        DDIMScheduler,
    )

    tok = word_tokenizer()
    text_encoder = t5_encoder(len(tok))
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=8 if image_to_video else 4, out_channels=4,
        time_embed_dim=2, text_embed_dim=32, num_layers=1, sample_width=2, sample_height=2, sample_frames=9,
        patch_size=2, temporal_compression_ratio=4, max_text_seq_length=16,
        use_rotary_positional_embeddings=image_to_video, use_learned_positional_embeddings=image_to_video)
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        in_channels=3, out_channels=3, down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), latent_channels=4,
        layers_per_block=1, norm_num_groups=2, temporal_compression_ratio=4)
    cls = CogVideoXImageToVideoPipeline if image_to_video else CogVideoXPipeline
    pipe = cls(tokenizer=tok, text_encoder=text_encoder, vae=vae, transformer=transformer,
               scheduler=DDIMScheduler())
    pipe.save_pretrained(path)
    return Path(path)


def clip_tokenizer():
    """A CLIP tokenizer over the byte-level alphabet (no merges: every word splits into characters)."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


_SD3_COMMON = dict(sample_size=32, patch_size=1, in_channels=8, attention_head_dim=8, num_attention_heads=4,
                   joint_attention_dim=32, caption_projection_dim=32, pooled_projection_dim=64, out_channels=8)


def save_sd3(path: Path) -> Path:
    """Tiny SD3 text-to-image pipeline (no ControlNet): 2-layer transformer, three text encoders."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(num_layers=2, **_SD3_COMMON)
    clip_tok = clip_tokenizer()
    clip_cfg = CLIPTextConfig(bos_token_id=0, eos_token_id=1, hidden_size=32, intermediate_size=37,
                              layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=2, pad_token_id=1,
                              vocab_size=len(clip_tok), hidden_act="gelu", projection_dim=32)
    torch.manual_seed(0)
    te1 = CLIPTextModelWithProjection(clip_cfg).eval()
    torch.manual_seed(1)
    te2 = CLIPTextModelWithProjection(clip_cfg).eval()
    t5_tok = word_tokenizer()
    te3 = t5_encoder(len(t5_tok))
    torch.manual_seed(0)
    vae = AutoencoderKL(sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
                        latent_channels=8, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
                        shift_factor=0.0609, scaling_factor=1.5035)
    pipe = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), text_encoder=te1, text_encoder_2=te2, text_encoder_3=te3,
        tokenizer=clip_tok, tokenizer_2=clip_tok, tokenizer_3=t5_tok, transformer=transformer, vae=vae)
    pipe.save_pretrained(path)
    return Path(path)


def save_sd3_controlnet_model(path: Path) -> Path:
    """Tiny 1-layer SD3 ControlNet matching :func:`save_sd3`'s transformer."""
    from diffusers import SD3ControlNetModel

    torch.manual_seed(0)
    SD3ControlNetModel(num_layers=1, **_SD3_COMMON).save_pretrained(path)
    return Path(path)


def save_sd3_controlnet(base_path: Path, controlnet_path: Path) -> tuple[Path, Path]:
    """Tiny SD3 text-to-image pipeline (saved without a ControlNet) and a tiny SD3 ControlNet."""
    return save_sd3(base_path), save_sd3_controlnet_model(controlnet_path)


# ---------------------------------------------------------------------------------------------
# Vision-language models (transformers)
# ---------------------------------------------------------------------------------------------

QWEN_SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
                "<|image_pad|>", "<|video_pad|>"]


def qwen_tokenizer():
    """A byte-level BPE tokenizer with Qwen's special tokens and whole-word tokens for the prompts."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = _SENTENCES + ["Yes yes YES No no NO", "Describe the two frames. Answer yes or no.",
                           "system user assistant You are a helpful assistant."]
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=QWEN_SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   unk_token=None, model_max_length=4096)


def save_qwen_vl(path: Path, version: str = "2.5") -> Path:
    """Tiny Qwen2.5-VL (``version="2.5"``) or Qwen2-VL (``"2"``) with its tokenizer and image config."""
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
    )

    tok = qwen_tokenizer()
    ids = {t: tok.convert_tokens_to_ids(t) for t in QWEN_SPECIAL}
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                rope_scaling={"type": "mrope", "mrope_section": [1, 1, 2]},
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"])
    vision = dict(depth=2, hidden_size=32, num_heads=4, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2, in_channels=3)
    if version == "2.5":
        vision.update(out_hidden_size=32, intermediate_size=64, fullatt_block_indexes=[1], window_size=56)
        cfg_cls, model_cls = Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    else:
        vision.update(embed_dim=32, mlp_ratio=2)
        cfg_cls, model_cls = Qwen2VLConfig, Qwen2VLForConditionalGeneration
    cfg = cfg_cls(text_config=text, vision_config=vision, image_token_id=ids["<|image_pad|>"],
                  video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
                  vision_end_token_id=ids["<|vision_end|>"], **{k: text[k] for k in
                                                               ("bos_token_id", "eos_token_id", "pad_token_id")})
    torch.manual_seed(0)
    model = model_cls(cfg).eval()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    # The image preprocessing parameters a real checkpoint ships (read by semcom_models.vlm).
    (Path(path) / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Qwen2VLImageProcessor", "patch_size": 14, "merge_size": 2,
        "temporal_patch_size": 2, "min_pixels": 56 * 56, "max_pixels": 28 * 28 * 64,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}))
    return Path(path)


# ---------------------------------------------------------------------------------------------
# Learned sketch extractors (semcom_models.pidinet, semcom_models.hed), full size, random weights
# ---------------------------------------------------------------------------------------------

def save_pidinet(folder: Path, seed: int = 0) -> Path:
    """A random-weight PiDiNet written as lllyasviel/Annotators' ``table5_pidinet.pth`` is laid out:
    ``{"epoch": ..., "state_dict": {"module.<name>": tensor}}`` (a DataParallel training
    checkpoint). Biases of the CDCM, CSAM, reduction and classifier convolutions start at 0 as in
    the reference initialisation; the classifier's weights are 25 (the reference's 0.25 times 100)
    so that the random edge map spans most of 0..255 instead of a flat grey."""
    from semcom_models.pidinet import PIDINET_FILE, PiDiNet

    torch.manual_seed(seed)
    net = PiDiNet()
    with torch.no_grad():
        for module in (*net.dilations, *net.attentions):
            module.conv1.bias.zero_()
        for module in net.conv_reduces:
            module.conv.bias.zero_()
        net.classifier.weight.fill_(25.0)
        net.classifier.bias.zero_()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {f"module.{k}": v.detach().clone() for k, v in net.state_dict().items()}
    torch.save({"epoch": 14, "state_dict": state}, folder / PIDINET_FILE)
    return folder / PIDINET_FILE


def save_hed(folder: Path, seed: int = 0) -> Path:
    """A random-weight ControlNet HED written as ``ControlNetHED.pth`` is: a plain state dict.
    ``norm`` is set to a mid-grey offset (0..255 units), as a trained one is."""
    from semcom_models.hed import HED_FILE, ControlNetHED

    torch.manual_seed(seed)
    net = ControlNetHED()
    with torch.no_grad():
        net.norm.copy_(torch.tensor([123.0, 117.0, 104.0]).view(1, 3, 1, 1))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, folder / HED_FILE)
    return folder / HED_FILE


def save_annotators(folder: Path) -> Path:
    """An ``Annotators`` folder holding both random sketch extractors (PiDiNet and HED files)."""
    save_hed(folder)
    return save_pidinet(folder).parent


# ---------------------------------------------------------------------------------------------
# Evaluation metrics: CLIP, BERTScore's encoder, LPIPS and DISTS weight files
# ---------------------------------------------------------------------------------------------

def save_clip(path: Path):
    """Tiny CLIPModel (text and vision towers of hidden size 32, 32 x 32 images, projection 16)
    with a byte-level CLIP tokenizer and CLIP's image preprocessing config (shortest side 32,
    centre crop 32 x 32, the OpenAI mean and std). Returns the model."""
    from transformers import CLIPConfig, CLIPModel

    tok = clip_tokenizer()
    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=0, eos_token_id=1),
        vision_config=dict(image_size=32, patch_size=8, hidden_size=32, intermediate_size=37,
                           num_hidden_layers=2, num_attention_heads=4),
        projection_dim=16)
    model = CLIPModel(cfg).eval()
    path = Path(path)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    (path / "preprocessor_config.json").write_text(
        '{"crop_size": {"height": 32, "width": 32}, "do_center_crop": true, "do_normalize": true, '
        '"do_rescale": true, "do_resize": true, "image_mean": [0.48145466, 0.4578275, 0.40821073], '
        '"image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, '
        '"rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 32}}')
    return model


def save_bert(path: Path, corpus: list[str] | None = None, num_layers: int = 2):
    """Tiny BERT encoder (``num_layers`` layers, hidden 32) for BERTScore, with a WordLevel tokenizer
    trained on ``corpus`` (default: a few built-in sentences; other words become ``[UNK]``) that
    wraps every text in ``[CLS] ... [SEP]``. Returns ``(model, tokenizer)``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(corpus or _SENTENCES, trainers.WordLevelTrainer(
        special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"], show_progress=False))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]",
                                   sep_token="[SEP]", model_max_length=64)
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(fast), hidden_size=32, num_hidden_layers=num_layers,
                                 num_attention_heads=4, intermediate_size=37, max_position_embeddings=64)).eval()
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return model, fast


# torchvision's ``features`` convolutions: module index N -> (in, out, kernel). The LPIPS and DISTS
# loaders (semcom_host.eval.perceptual) read exactly these keys, ``features.N.weight/bias``.
ALEXNET_CONVS = {0: (3, 64, 11), 3: (64, 192, 5), 6: (192, 384, 3), 8: (384, 256, 3), 10: (256, 256, 3)}
_VGG16_OUT = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
VGG16_CONVS = {i: (cin, cout, 3) for i, cin, cout in
               zip((0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28), (3, *_VGG16_OUT[:-1]), _VGG16_OUT)}
#: net -> (torchvision backbone file, its convolutions, lpips head file, head channels)
LPIPS_LAYOUT = {
    "alex": ("alexnet-owt-7be5be79.pth", ALEXNET_CONVS, "alex.pth", (64, 192, 384, 256, 256)),
    "vgg": ("vgg16-397923af.pth", VGG16_CONVS, "vgg.pth", (64, 128, 256, 512, 512)),
}


def _backbone_state(convs: dict[int, tuple[int, int, int]]) -> dict[str, torch.Tensor]:
    """``features.N.weight/bias`` of randomly initialised convolutions (torch's default init);
    the classifier layers of torchvision's files are left out (the metrics never read them)."""
    state = {}
    for i, (cin, cout, k) in convs.items():
        conv = torch.nn.Conv2d(cin, cout, k)
        state.update({f"features.{i}.weight": conv.weight.detach(), f"features.{i}.bias": conv.bias.detach()})
    return state


def save_lpips(folder: Path, net: str = "alex", seed: int = 0) -> list[Path]:
    """Random LPIPS v0.1 weights for ``net`` ("alex" or "vgg") as published: torchvision's backbone file
    beside the lpips package's head (``alex.pth`` / ``vgg.pth``: ``linK.model.1.weight``, 1 x C x 1 x 1,
    uniform in [0, 1) since the published heads are non-negative). Returns the two files."""
    backbone_file, convs, head_file, channels = LPIPS_LAYOUT[net]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.save(_backbone_state(convs), folder / backbone_file)
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(channels)}, folder / head_file)
    return [folder / backbone_file, folder / head_file]


def save_dists(folder: Path, seed: int = 0) -> list[Path]:
    """Random DISTS weights as published: torchvision's ``vgg16-397923af.pth`` beside DISTS_pytorch's
    ``weights.pt`` (``alpha``, ``beta``: 1 x 1475 x 1 x 1, uniform in [0.01, 0.2)). Returns the two files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.save(_backbone_state(VGG16_CONVS), folder / LPIPS_LAYOUT["vgg"][0])
    n = 3 + 64 + 128 + 256 + 512 + 512     # 1475 channels: the image itself, then VGG16's five stages
    ab = {"alpha": 0.01 + 0.19 * torch.rand(1, n, 1, 1), "beta": 0.01 + 0.19 * torch.rand(1, n, 1, 1)}
    torch.save(ab, folder / "weights.pt")
    return [folder / LPIPS_LAYOUT["vgg"][0], folder / "weights.pt"]


# ---------------------------------------------------------------------------------------------
# One tiny model per known model name: `semcom models tiny DIR`
# ---------------------------------------------------------------------------------------------

#: model name (semcom_models.model_paths.KNOWN_MODELS) -> builder(folder) writing it there
BUILDERS: dict[str, Callable[[Path], object]] = {
    "qwen2.5-vl": lambda p: save_qwen_vl(p, "2.5"),
    "qwen2-vl": lambda p: save_qwen_vl(p, "2"),
    "ltx-video": save_ltx,
    "wan2.1-i2v": save_wan_i2v,
    "wan2.1-flf2v": lambda p: save_wan_i2v(p, first_last=True),
    "wan2.1-vace": save_wan_vace,
    "cogvideox": save_cogvideox,
    "cogvideox-i2v": lambda p: save_cogvideox(p, image_to_video=True),
    "svd": save_svd,
    "sd3.5": save_sd3,
    "sd3.5-controlnet-canny": save_sd3_controlnet_model,
    "annotators": save_annotators,
    "lpips-alex": lambda p: save_lpips(p, "alex"),
    "lpips-vgg": lambda p: save_lpips(p, "vgg"),
    "dists": save_dists,
    "clip": save_clip,
    # 24 layers as roberta-large has: BERTScore takes its layer 17 for a folder of that name
    "bertscore": lambda p: save_bert(p, num_layers=24),
}

_NEEDS_TORCHVISION = ("its transformers 5 processor builds a video processor that needs torchvision, which cannot "
                      "be installed beside the CPU torch here (tiny-models.md), so nothing could load it")
#: model name -> why no tiny model of it is written
NOT_BUILT: dict[str, str] = {
    "llava-onevision": _NEEDS_TORCHVISION, "internvl3": _NEEDS_TORCHVISION,
    "opensora-repo": "a git checkout of Open-Sora's own code, not a model: it cannot be made up",
    "opensora": "Open-Sora 2.0 runs from its repository's code (opensora-repo), which is not here",
}

#: model name -> the other models its `semcom models check` probe also loads
NEEDS: dict[str, tuple[str, ...]] = {"sd3.5": ("sd3.5-controlnet-canny",)}

MARKER = "semcom-tiny-model.json"   #: marks a folder written by write_tiny_models (it may be overwritten)
_NOTE = "a tiny randomly initialised stand-in written by semcom_models.tiny: its outputs are noise"


def expand_names(names: list[str] | None = None) -> list[str]:
    """The model names asked for by ``names`` (None: every known one) and what their probes also need
    (:data:`NEEDS`), in the order of :data:`BUILDERS` then :data:`NOT_BUILT`; ValueError for an unknown name."""
    known = [*BUILDERS, *NOT_BUILT]
    unknown = [n for n in names or () if n not in known]
    if unknown:
        raise ValueError(f"unknown model {', '.join(unknown)}; known: {', '.join(known)}")
    wanted = set(names or known) | {d for n in names or () for d in NEEDS.get(n, ())}
    return [n for n in known if n in wanted]


def write_tiny_models(root: Path, names: list[str] | None = None,
                      progress: Callable[[dict], None] | None = None) -> list[dict]:
    """Write a tiny random model of each of ``names`` (default: every known model) into
    ``root/<folder>``, ``<folder>`` being the model's :data:`KNOWN_MODELS` folder name.

    Returns one dict per model, also handed to ``progress`` as soon as it is known: ``name``,
    ``folder``, and ``path``, ``seconds`` (wall time to build and save) and ``size_mb`` (MiB on
    disk), or ``skipped`` (why none is built, :data:`NOT_BUILT`), or ``error``. A folder that
    exists, is not empty and has no :data:`MARKER` file (a real model, most likely) is never
    written into: that is an error. Torch runs on one thread meanwhile (faster for tiny tensors).
    """
    out = []
    for name in expand_names(names):
        folder = Path(root) / default_folder(name)
        entry: dict = {"name": name, "folder": default_folder(name)}
        if name in NOT_BUILT:
            entry["skipped"] = NOT_BUILT[name]
        elif folder.exists() and any(folder.iterdir()) and not (folder / MARKER).is_file():
            entry["error"] = f"{folder} exists and is not a tiny model written by gr-semcom: left as it is"
        else:
            t0 = time.perf_counter()
            try:
                folder.mkdir(parents=True, exist_ok=True)
                (folder / MARKER).write_text(json.dumps({"model": name, "random": True, "note": _NOTE}))
                with torch_threads(1):
                    BUILDERS[name](folder)
            except Exception as exc:  # noqa: BLE001 - reported per model, the others still written
                entry["error"] = f"{type(exc).__name__}: {exc}"
            else:
                mb = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2 ** 20
                entry.update(path=str(folder), size_mb=round(mb, 2))
            entry["seconds"] = round(time.perf_counter() - t0, 3)
        out.append(entry)
        if progress is not None:
            progress(entry)
    return out

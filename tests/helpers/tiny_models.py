"""Tiny randomly initialised models, built offline, for the tests of the semantic layer.

Every builder constructs a model from a config (nothing is downloaded), seeds torch first so the
weights are the same on every run, and saves it with ``save_pretrained`` into a folder given by
the caller. Tests then load the folder back through gr-semcom's own local-path loading code,
which is what proves that loading works without a model hub.

The configs follow ../shared/reference/tiny-models.md: they are the smallest that run each
pipeline end to end on a CPU in a second or two. Generated pixels are noise; only shapes, dtypes,
determinism and the plumbing are meaningful.
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import torch


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
    tok.train_from_iterator(_SENTENCES, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
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


def _clip_tokenizer():
    """A CLIP tokenizer over the byte-level alphabet (no merges: every word splits into characters)."""
    from tokenizers import pre_tokenizers
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab.setdefault(ch, len(vocab))
        vocab.setdefault(ch + "</w>", len(vocab))
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def save_sd3_controlnet(base_path: Path, controlnet_path: Path) -> tuple[Path, Path]:
    """Tiny SD3 text-to-image pipeline (saved without a ControlNet) and a tiny SD3 ControlNet."""
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3ControlNetModel,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    common = dict(sample_size=32, patch_size=1, in_channels=8, attention_head_dim=8, num_attention_heads=4,
                  joint_attention_dim=32, caption_projection_dim=32, pooled_projection_dim=64, out_channels=8)
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(num_layers=2, **common)
    torch.manual_seed(0)
    controlnet = SD3ControlNetModel(num_layers=1, **common)
    clip_tok = _clip_tokenizer()
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
    pipe.save_pretrained(base_path)
    controlnet.save_pretrained(controlnet_path)
    return Path(base_path), Path(controlnet_path)


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
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=QWEN_SPECIAL,
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

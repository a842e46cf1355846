"""Tiny image-to-video pipelines for tests: real diffusers classes, random weights, built offline.

One builder per pipeline class the `diffusers-i2v` presets drive (`TINY_PIPELINES`).
Component configs follow diffusers' own pipeline tests (``get_dummy_components``),
shrunk where they can be, with two changes the benchmark needs: every pipeline makes
>= 16 frames (the context frame is dropped, 15 are kept), and every tokenizer is built
offline (`adapters.diffusers_video.tiny_text`, or, for HunyuanVideo's Llama tokenizer,
a byte-level BPE trained here on its prompt template). Each component is seeded, so a
builder gives the same weights on every machine.

Torch, diffusers and transformers are imported inside the builders: `hcvg adapters
list` imports the adapter module, never torch.
"""

from __future__ import annotations

from typing import Any, Callable

#: The native (H, W) every tiny pipeline runs at: small, but divisible by each VAE's and patch's stride.
TINY_SIZE = (32, 32)


def _seeded(build: Callable[[], Any]) -> Any:
    import torch

    torch.manual_seed(0)
    return build()


def tiny_stable_video_diffusion() -> Any:
    """`StableVideoDiffusionPipeline` (diffusers' test components, one layer per block).

    Its blocks normalize in 32 groups, so no block is narrower than 32 channels.
    """
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    # One cross-attention block on 8² latents (the VAE below quarters 32²).
    unet = _seeded(lambda: UNetSpatioTemporalConditionModel(
        block_out_channels=(32,), layers_per_block=1, sample_size=8, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal",), up_block_types=("CrossAttnUpBlockSpatioTemporal",),
        cross_attention_dim=32, num_attention_heads=(2,), projection_class_embeddings_input_dim=96, addition_time_embed_dim=32,
    ))
    vae = _seeded(lambda: AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 32, 32], in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 3, latent_channels=4,
    ))
    # The pipeline resizes the context to 224² before the image encoder (CLIP's input
    # size), so the tiny encoder must take 224² images: patch 14 gives 16² tokens.
    image_encoder = _seeded(lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4, image_size=224, intermediate_size=37, patch_size=14,
    )))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear", num_train_timesteps=1000,
        prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002, steps_offset=1, timestep_spacing="leading",
        timestep_type="continuous", use_karras_sigmas=True,
    )
    return StableVideoDiffusionPipeline(
        vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler, feature_extractor=CLIPImageProcessor(crop_size=224, size=224),
    )


def tiny_i2vgen_xl() -> Any:
    """`I2VGenXLPipeline` (diffusers' former test components; CLIP's real tokenizer)."""
    from diffusers import AutoencoderKL, DDIMScheduler, I2VGenXLPipeline, I2VGenXLUNet
    from transformers import CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    from adapters.diffusers_video.tiny_text import clip_tokenizer

    unet = _seeded(lambda: I2VGenXLUNet(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=4, attention_head_dim=4, num_attention_heads=None, norm_num_groups=2,
    ))
    # Two blocks halve 32² to 16² latents: the UNet's spatial attention then sees 256 tokens, not 1024.
    vae = _seeded(lambda: AutoencoderKL(
        block_out_channels=(8, 8), in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, sample_size=32, norm_num_groups=2,
    ))
    tokenizer = clip_tokenizer()
    text_encoder = _seeded(lambda: CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, hidden_size=4, intermediate_size=16, num_attention_heads=2, num_hidden_layers=2,
        projection_dim=32, hidden_act="gelu",
    )))
    image_encoder = _seeded(lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32, intermediate_size=16, patch_size=4,
    )))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False, set_alpha_to_one=False)
    return I2VGenXLPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, image_encoder=image_encoder,
        feature_extractor=CLIPImageProcessor(crop_size=32, size=32), unet=unet, scheduler=scheduler,
    )


def _tiny_t5_encoder(tokenizer: Any, umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    config, model = (UMT5Config, UMT5EncoderModel) if umt5 else (T5Config, T5EncoderModel)
    return _seeded(lambda: model(config(
        vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
    )).eval())


def tiny_ltx_image_to_video() -> Any:
    """`LTXImageToVideoPipeline` (diffusers' test components: VAE stride 4 in space and time)."""
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXImageToVideoPipeline, LTXVideoTransformer3DModel

    from adapters.diffusers_video.tiny_text import tiny_t5_tokenizer

    transformer = _seeded(lambda: LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=32,
    ))
    vae = _seeded(lambda: AutoencoderKLLTXVideo(
        in_channels=3, out_channels=3, latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False), decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False), upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1), timestep_conditioning=False, patch_size=1, patch_size_t=1, encoder_causal=True, decoder_causal=False,
    ))
    tokenizer = tiny_t5_tokenizer()
    return LTXImageToVideoPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, text_encoder=_tiny_t5_encoder(tokenizer), tokenizer=tokenizer, transformer=transformer,
    )


def tiny_wan_image_to_video() -> Any:
    """`WanImageToVideoPipeline` as Wan 2.1 I2V is built: UMT5 text encoder, CLIP vision encoder, one transformer."""
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanTransformer3DModel
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    from adapters.diffusers_video.tiny_text import tiny_t5_tokenizer

    vae = _seeded(lambda: AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]))
    transformer = _seeded(lambda: WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36, out_channels=16, text_dim=32,
        freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32, image_dim=4,
    ))
    image_encoder = _seeded(lambda: CLIPVisionModel(CLIPVisionConfig(
        hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32, intermediate_size=16, patch_size=4,
    )))
    tokenizer = tiny_t5_tokenizer()
    return WanImageToVideoPipeline(
        tokenizer=tokenizer, text_encoder=_tiny_t5_encoder(tokenizer, umt5=True), vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), image_processor=CLIPImageProcessor(crop_size=32, size=32),
        image_encoder=image_encoder, transformer=transformer,
    )


#: Llama-3 special tokens HunyuanVideo's prompt template uses; "<image>" is LLaVA's image placeholder.
_LLAMA_SPECIALS = ("<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<image>", "<pad>")


def tiny_llama_tokenizer(template: str) -> Any:
    """A byte-level BPE Llama tokenizer trained here on ``template`` (HunyuanVideo's prompt template).

    HunyuanVideo-I2V finds the image tokens and the prompt by position in the tokenized
    template (``image_emb_start = 5``: after ``<|begin_of_text|>``, the system header
    and ``\\n\\n``), so the tiny tokenizer must split the template as Llama 3's does
    around those places; a byte-level BPE trained on the template itself does, offline.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from adapters.diffusers_video.tiny_text import _WORDS

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=list(_LLAMA_SPECIALS), initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [piece for piece in template.replace("{}", " ").split("<image>")] + [" ".join(_WORDS)]
    bpe.train_from_iterator(corpus, trainer=trainer)
    bos = bpe.token_to_id("<|begin_of_text|>")
    bpe.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)])
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", pad_token="<pad>",
        additional_special_tokens=["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<image>"], padding_side="right",
    )


def tiny_hunyuan_video_image_to_video() -> Any:
    """`HunyuanVideoImageToVideoPipeline`: tiny LLaVA (Llama + CLIP vision), CLIP text encoder, token-replace transformer.

    Built as hunyuanvideo-community/HunyuanVideo-I2V is: the image latent replaces the
    first latent frame (``image_condition_type="token_replace"``, so the context frame is
    returned) and guidance is embedded (``guidance_embeds=True``).

    The LLaVA vision tower sees 336² images in 14-pixel patches, so it yields the 576
    image tokens the pipeline's default prompt template reserves (``image_emb_len``):
    the tiny pipeline runs with the real template, as the checkpoint does.
    """
    import inspect

    from diffusers import AutoencoderKLHunyuanVideo, FlowMatchEulerDiscreteScheduler, HunyuanVideoImageToVideoPipeline, HunyuanVideoTransformer3DModel
    from transformers import (
        CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration,
    )

    from adapters.diffusers_video.tiny_text import clip_tokenizer

    template = inspect.signature(HunyuanVideoImageToVideoPipeline.__call__).parameters["prompt_template"].default
    tokenizer = tiny_llama_tokenizer(template["template"])
    transformer = _seeded(lambda: HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1, num_single_layers=1,
        num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True, text_embed_dim=16, pooled_projection_dim=8,
        rope_axes_dim=(2, 4, 4), image_condition_type="token_replace",
    ))
    vae = _seeded(lambda: AutoencoderKLHunyuanVideo(
        in_channels=3, out_channels=3, latent_channels=4, down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1, act_fn="silu",
        norm_num_groups=4, scaling_factor=0.476986, spatial_compression_ratio=8, temporal_compression_ratio=4, mid_block_add_attention=True,
    ))
    image_size = 336  # 24² = 576 patches of 14 pixels: the template's image_emb_len
    llava_config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=8, intermediate_size=37, projection_dim=32, num_attention_heads=4, num_hidden_layers=2,
                                       image_size=image_size, patch_size=14),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=16, intermediate_size=37, num_attention_heads=4, num_key_value_heads=4,
            num_hidden_layers=3, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"), pad_token_id=tokenizer.pad_token_id,
    )
    text_encoder = _seeded(lambda: LlavaForConditionalGeneration(llava_config).eval())
    tokenizer_2 = clip_tokenizer()
    text_encoder_2 = _seeded(lambda: CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer_2), bos_token_id=tokenizer_2.bos_token_id, eos_token_id=tokenizer_2.eos_token_id,
        pad_token_id=tokenizer_2.pad_token_id, hidden_size=8, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        projection_dim=32, hidden_act="gelu",
    )))
    image_processor = CLIPImageProcessor(
        crop_size=image_size, size=image_size, do_center_crop=True, do_normalize=True, do_resize=True, resample=3,
        image_mean=[0.48145466, 0.4578275, 0.40821073], image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    return HunyuanVideoImageToVideoPipeline(
        text_encoder=text_encoder, tokenizer=tokenizer, transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
        text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2, image_processor=image_processor,
    )


#: The tiny builder of each pipeline class a preset drives (tests and `DiffusersI2VAdapter.for_tests`).
TINY_PIPELINES: dict[str, Callable[[], Any]] = {
    "StableVideoDiffusionPipeline": tiny_stable_video_diffusion,
    "I2VGenXLPipeline": tiny_i2vgen_xl,
    "LTXImageToVideoPipeline": tiny_ltx_image_to_video,
    "WanImageToVideoPipeline": tiny_wan_image_to_video,
    "HunyuanVideoImageToVideoPipeline": tiny_hunyuan_video_image_to_video,
}

"""The caption side of Open-Sora 1.2: prompt preparation and T5-XXL encoding.

Upstream's inference script (scripts/inference.py, v1.2.0) appends the aesthetic score
to each prompt (``"… aesthetic score: 6.5."``), cleans it, and encodes it with T5 v1.1
XXL, padded or cut to 300 tokens; the denoiser reads the last hidden states and the
attention mask.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from adapters.opensora import config

if TYPE_CHECKING:
    import torch


def prepare_prompt(prompt: str, aesthetic_score: float | None = config.AESTHETIC_SCORE) -> str:
    """The text the model is conditioned on.

    Upstream's ``text_preprocessing`` runs PixArt's ``clean_caption`` (HTML, URLs,
    CJK ranges, shop boilerplate). Of its steps, those that change plain English action
    text are kept here: lowercase, strip, collapse whitespace. A prompt holding
    markup, URLs or CJK text would be cleaned differently upstream.

    Args:
        prompt: The action text.
        aesthetic_score: Appended as ``" aesthetic score: {:.1f}."`` (the released
            config's ``aes = 6.5``); None appends nothing.
    """
    text = prompt
    if aesthetic_score is not None and "aesthetic score:" not in text:
        text = f"{text} aesthetic score: {aesthetic_score:.1f}."
    return re.sub(r"\s+", " ", text.strip().lower())


class T5Captions:
    """T5 encoder + tokenizer producing the denoiser's caption states.

    Args:
        encoder: A transformers ``T5EncoderModel`` (frozen; may be shared by adapters).
        tokenizer: Its tokenizer.
        max_length: Tokens per caption (300 for Open-Sora 1.2).
    """

    def __init__(self, encoder: Any, tokenizer: Any, max_length: int = config.T5_MAX_LENGTH):
        self.encoder, self.tokenizer, self.max_length = encoder, tokenizer, max_length

    def encode(self, prompts: list[str], device: "torch.device") -> tuple["torch.Tensor", "torch.Tensor"]:
        """Encode prepared prompts.

        Returns:
            (float ``[B, max_length, d_model]`` last hidden states, long ``[B, max_length]``
            attention mask), on ``device``.
        """
        import torch

        tokens = self.tokenizer(
            prompts, max_length=self.max_length, padding="max_length", truncation=True, add_special_tokens=True,
            return_attention_mask=True, return_tensors="pt",
        )
        encoder_device = next(self.encoder.parameters()).device
        with torch.no_grad():
            states = self.encoder(
                input_ids=tokens["input_ids"].to(encoder_device), attention_mask=tokens["attention_mask"].to(encoder_device)
            ).last_hidden_state
        return states.to(device), tokens["attention_mask"].to(device)

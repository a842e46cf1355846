"""The action text embedding of HANDI (paper §3, "Action Text Embedding").

The action prompt T ("cut carrot") is first expanded into a richer description by a
pre-trained instruction-tuning module (LEGO's, paper ref. [28]), then embedded by the
CLIP text encoder into ``E_text`` ``[N, d]`` (N tokens of d features). This module holds
the three steps:

* prompt expanders, registered in `PROMPT_EXPANDERS`: ``identity`` (the default: the
  prompt as is) and ``hf-causal-lm`` (any Hugging Face causal LM in a local folder or
  the hub cache, decoding greedily from an instruction template);
* `clip_bpe_tokenizer`: CLIP's BPE tokenizer as a transformers `CLIPTokenizer`, built
  offline from the vocabulary that ships in the ``open_clip_torch`` wheel;
* `encode_prompts`: the text encoder's last hidden state over prompts padded to the
  tokenizer's length, as the ModelScope / AnimateAnything pipelines compute it; and
  `tiny_text_encoder`, a small random `CLIPTextModel` for tests and the tiny HANDI.

Nothing here imports torch or transformers until it is used.
"""

from __future__ import annotations

import abc
import functools
import gzip
import html
import importlib.util
import logging
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from hcvg.errors import InputNotFoundError, InvalidInputError, MissingExtraError
from hcvg.registry import Registry

if TYPE_CHECKING:  # heavy libraries are imported where they are used
    import torch
    from transformers import CLIPTextModel, CLIPTokenizer

logger = logging.getLogger(__name__)

# -- prompt expansion --------------------------------------------------------------------


class PromptExpander(abc.ABC):
    """Turns action prompts into the descriptions that the text encoder embeds."""

    @abc.abstractmethod
    def expand(self, prompts: Sequence[str]) -> list[str]:
        """Expand each prompt.

        Args:
            prompts: Action texts, e.g. ``["cut carrot", "open fridge"]``.

        Returns:
            One description per prompt, in the same order.
        """

    def close(self) -> None:
        """Release what the expander holds (a model's memory); it is not used after."""


PROMPT_EXPANDERS: Registry[type[PromptExpander]] = Registry("prompt expander", base=PromptExpander)


@PROMPT_EXPANDERS.register("identity")
class IdentityExpander(PromptExpander):
    """The default: each prompt is its own description (no expansion model)."""

    def expand(self, prompts: Sequence[str]) -> list[str]:
        return list(_checked_prompts(prompts))


# A plain instruction for a text-only LM; LEGO's own module is a visual instruction-tuned
# LLaVA, so a run that uses its language model should pass the prompt it was tuned on.
DEFAULT_INSTRUCTION = (
    "Describe in one sentence how the hands perform this action in an egocentric video, "
    "naming the objects they touch.\nAction: {prompt}\nDescription:"
)


@PROMPT_EXPANDERS.register("hf-causal-lm")
class HFCausalLMExpander(PromptExpander):
    """Expands prompts with a Hugging Face causal LM, greedily (deterministic).

    Each prompt is put into ``template`` and the model continues it; the continuation,
    without the template, is the description.

    Args:
        model: A local folder with ``config.json``, weights and a tokenizer, or a hub
            repo id already in the hub cache (never downloaded).
        template: Instruction text with one ``{prompt}`` field.
        max_new_tokens: The longest description, in the model's tokens.
        device: Torch device to run the model on, e.g. ``"cpu"``, ``"cuda"``.

    Raises:
        InputNotFoundError: If ``model`` is neither a folder nor in the hub cache.
        InvalidInputError: If ``template`` lacks ``{prompt}`` or has another field, or
            ``max_new_tokens`` is below 1.
    """

    def __init__(self, model: str, template: str = DEFAULT_INSTRUCTION, max_new_tokens: int = 64, device: str = "cpu"):
        _check_template(template)
        if max_new_tokens < 1:
            raise InvalidInputError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path = resolve_model_dir(model)
        self.template = template
        self.max_new_tokens = max_new_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(self.path, local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(self.path, local_files_only=True).to(device).eval()

    def expand(self, prompts: Sequence[str]) -> list[str]:
        """Expand each prompt; one at a time, so no padding can change a result.

        Raises:
            ValueError: If the model continues a prompt with nothing but special tokens
                or spaces (no description is made up in its place).
        """
        import torch

        descriptions = []
        for prompt in _checked_prompts(prompts):
            inputs = self.tokenizer(self.template.format(prompt=prompt), return_tensors="pt").to(self.model.device)
            with torch.no_grad():
                output = self.model.generate(
                    **inputs,
                    do_sample=False,
                    num_beams=1,
                    max_new_tokens=self.max_new_tokens,
                    pad_token_id=self._pad_token_id(),
                )
            new_tokens = output[0, inputs["input_ids"].shape[1]:]
            description = self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
            if not description:
                raise ValueError(
                    f"the causal LM at {self.path} expanded {prompt!r} to an empty text; "
                    "change the template or raise max_new_tokens"
                )
            descriptions.append(description)
        return descriptions

    def _pad_token_id(self) -> int | None:
        # generate() pads finished sequences; a tokenizer without a pad token pads with EOS.
        if self.tokenizer.pad_token_id is not None:
            return self.tokenizer.pad_token_id
        return self.tokenizer.eos_token_id

    def close(self) -> None:
        del self.model


def resolve_model_dir(model: str) -> Path:
    """A model's local folder: ``model`` itself, or its snapshot in the hub cache (read only).

    Args:
        model: A folder path, or a hub repo id such as ``"org/name"``.

    Raises:
        InputNotFoundError: Naming the folder and the hub cache that were looked in, and
            how to get the model.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise InputNotFoundError(f"{path} holds no config.json: not a saved Hugging Face model (save_pretrained writes one)")
        return path
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(model, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError) as err:  # ValueError: not a valid repo id either
        raise InputNotFoundError(
            f"causal LM {model!r} not found: no folder at {path.resolve()}, and not in the hub cache "
            f"{constants.HF_HUB_CACHE}; pass the folder of a saved model, or get it with `hf download {model}`"
        ) from err


def _check_template(template: str) -> None:
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if fields != {"prompt"}:
        raise InvalidInputError(
            f"the instruction template must have exactly one field, {{prompt}}, got {sorted(fields) or 'none'}: {template!r}"
        )


def _checked_prompts(prompts: Sequence[str]) -> Sequence[str]:
    if isinstance(prompts, str):  # a str is a sequence of one-letter prompts: never meant
        raise TypeError(f"prompts must be a list of strings, got the string {prompts!r}; wrap it: [{prompts!r}]")
    return prompts


# -- the CLIP tokenizer ------------------------------------------------------------------

CLIP_BPE_FILE = "bpe_simple_vocab_16e6.txt.gz"
# CLIP keeps the first 49152 - 256 - 2 merges of its BPE file (line 0 is a header).
_NUM_MERGES = 49152 - 256 - 2
_BOS, _EOS = "<|startoftext|>", "<|endoftext|>"


def clip_bpe_path() -> Path:
    """The BPE vocabulary inside the installed ``open_clip_torch`` wheel, found without importing open_clip.

    Raises:
        MissingExtraError: If ``open_clip_torch`` is not installed.
        InputNotFoundError: If the package lacks the vocabulary file.
    """
    spec = importlib.util.find_spec("open_clip")  # locates the package; runs none of its code
    if spec is None or spec.origin is None:
        raise MissingExtraError("the CLIP BPE tokenizer needs 'open_clip', which is not installed: pip install 'handi-bench[models]'")
    path = Path(spec.origin).parent / CLIP_BPE_FILE
    if not path.is_file():
        raise InputNotFoundError(f"{path} not found: the installed open_clip_torch lacks CLIP's BPE vocabulary; reinstall it")
    return path


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP's reversible map of the 256 bytes to printable characters, in CLIP's order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = {b: chr(b) for b in printable}
    # The other bytes (space, control codes) map past 255, in byte order.
    for n, b in enumerate(b for b in range(256) if b not in chars):
        chars[b] = chr(256 + n)
    return chars


@functools.lru_cache(maxsize=1)
def _clip_vocab_and_merges() -> tuple[dict[str, int], tuple[tuple[str, str], ...]]:
    lines = gzip.decompress(clip_bpe_path().read_bytes()).decode("utf-8").split("\n")
    merges = tuple(tuple(line.split()) for line in lines[1 : _NUM_MERGES + 1])
    byte_chars = list(_bytes_to_unicode().values())
    # Ids as CLIP numbers them: bytes, bytes ending a word, one per merge, then the two specials.
    tokens = [*byte_chars, *(c + "</w>" for c in byte_chars), *("".join(m) for m in merges), _BOS, _EOS]
    return {token: i for i, token in enumerate(tokens)}, merges


def clip_bpe_tokenizer(max_length: int = 77, pad_token: str = "!") -> "CLIPTokenizer":
    """CLIP's BPE tokenizer (49408 tokens) as a transformers `CLIPTokenizer`, built offline.

    Token ids equal open_clip's ``SimpleTokenizer`` / ``open_clip.tokenize`` on text
    cleaned by `clean_prompt` (which `encode_prompts` applies): the tokenizer itself
    lower-cases and collapses white space, but does not run ftfy or unescape HTML.

    Args:
        max_length: ``model_max_length``: prompts are truncated to it (BOS and EOS
            kept) and padded to it; 77 is CLIP's context length.
        pad_token: The padding token. ``"!"`` (id 0) is what ``open_clip.tokenize``
            pads with, as do the OpenCLIP-based ModelScope / Stable Diffusion 2
            tokenizers; Stable Diffusion 1.5's pads with ``"<|endoftext|>"``.

    Returns:
        A `CLIPTokenizer` with BOS 49406, EOS 49407. Build it with this function rather
        than reloading a ``save_pretrained`` copy: a reloaded one declares a ``"!"`` pad
        as a special token again, and splits "!" runs (see the NOTE in the code).

    Raises:
        InvalidInputError: If ``pad_token`` is not one token of the vocabulary (it
            would otherwise be added as an id the text encoder does not have).
    """
    from transformers import CLIPTokenizer

    if max_length < 2:
        raise InvalidInputError(f"max_length must leave room for BOS and EOS (>= 2), got {max_length}")
    vocab, merges = _clip_vocab_and_merges()
    if pad_token not in vocab:
        raise InvalidInputError(f"pad_token {pad_token!r} is not in CLIP's vocabulary; use '!' or {_EOS!r}")
    tokenizer = CLIPTokenizer(vocab=dict(vocab), merges=list(merges), model_max_length=max_length)
    # NOTE: declared at construction, the pad token becomes an added token, which the
    # tokenizer then cuts out of the text before BPE: "!!" would be two pads instead of
    # CLIP's one "!!" token (https://github.com/huggingface/diffusers/issues/4153). Set by
    # id, it only pads.
    tokenizer.pad_token_id = vocab[pad_token]
    # Marks a tokenizer that is rebuilt, never reloaded (HandiPipeline.save_pretrained skips it).
    tokenizer.hcvg_offline_bpe = True
    return tokenizer


def clean_prompt(text: str) -> str:
    """CLIP's own text cleaning (open_clip ``basic_clean`` + ``whitespace_clean``).

    Fixes mojibake and typographic quotes (ftfy), unescapes HTML twice, and collapses
    white space; lower-casing is the tokenizer's.

    Args:
        text: A prompt.

    Returns:
        The cleaned prompt.
    """
    import ftfy

    text = html.unescape(html.unescape(ftfy.fix_text(text)))
    return " ".join(text.split())


# -- prompt embeddings -------------------------------------------------------------------


def encode_prompts(tokenizer: Any, text_encoder: "CLIPTextModel", prompts: Sequence[str]) -> "torch.Tensor":
    """The action text embedding ``E_text``: the text encoder's last hidden state.

    As ModelScope's text-to-video pipeline (diffusers ``TextToVideoSDPipeline.encode_prompt``)
    and AnimateAnything (``models/pipeline_stage2.py``, ``_encode_prompt``) do: prompts are
    padded to ``tokenizer.model_max_length`` and truncated to it; the attention mask is
    passed only if the encoder's config asks for it (``use_attention_mask``), and the
    embedding is the encoder's first output, its last hidden state after the final
    layer norm (not the pooled or projected vector). Prompts are cleaned with
    `clean_prompt` first, as CLIP's own tokenizer does. Gradients flow unless the
    caller disables them (``torch.no_grad()`` for a frozen encoder).

    Args:
        tokenizer: A CLIP tokenizer, e.g. `clip_bpe_tokenizer`.
        text_encoder: A transformers `CLIPTextModel` (its device is used).
        prompts: B action texts (or their expansions).

    Returns:
        ``[B, N, d]`` in the encoder's dtype, N = ``tokenizer.model_max_length``,
        d = its hidden size.

    Raises:
        TypeError: If ``prompts`` is a single string.
    """
    cleaned = [clean_prompt(p) for p in _checked_prompts(prompts)]
    tokens = tokenizer(
        cleaned, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    )
    lengths = [len(ids) for ids in tokenizer(cleaned, truncation=False)["input_ids"]]
    truncated = [p for p, n in zip(prompts, lengths) if n > tokenizer.model_max_length]
    if truncated:
        logger.warning(
            "%d prompt(s) cut to the text encoder's %d tokens, e.g. %r", len(truncated), tokenizer.model_max_length, truncated[0]
        )
    device = text_encoder.device
    attention_mask = None
    if getattr(text_encoder.config, "use_attention_mask", False):
        attention_mask = tokens["attention_mask"].to(device)
    return text_encoder(input_ids=tokens["input_ids"].to(device), attention_mask=attention_mask)[0]


def tiny_text_encoder(seed: int = 0) -> "CLIPTextModel":
    """A tiny random `CLIPTextModel` with CLIP's vocabulary and context, for tests and the tiny HANDI.

    Hidden size 32, 2 layers of 4 heads, vocabulary 49408 (`clip_bpe_tokenizer`'s),
    77 positions; BOS 49406, EOS 49407, pad 0 (``"!"``).

    Args:
        seed: Seeds the random weights (the global torch RNG is left as it was).

    Returns:
        The model in eval mode, on the CPU, float32.
    """
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=77,
        projection_dim=32,
        bos_token_id=49406,
        eos_token_id=49407,
        pad_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CLIPTextModel(config).eval()

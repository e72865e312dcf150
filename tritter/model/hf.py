"""Hugging Face `BitNetForCausalLM` directories: load into Tritter, save from Tritter.

The directory layout is `config.json` + `model.safetensors` (or sharded safetensors with
`model.safetensors.index.json`). Tensor names are Tritter's parameter names with a `model.`
prefix, except `lm_head.weight` (absent when the head is tied).

Loading checks everything before building anything: every config field is either mapped onto
`ModelConfig`, known metadata, or pinned to the one value Tritter implements (e.g.
`hidden_act: relu2`); anything else is an error naming the field. Tensor names and shapes are
compared with the model's before a single weight is assigned, so a bad directory never yields a
half-loaded model. A directory with the "online" BitNet quantization config loads as a ternary
model; one without a quantization config is a dense model, as `transformers` would run it.

Dependency direction. This adapter never imports tritter/model/transformer.py: `load_hf` takes
the model class to build and `save_hf` the model to write, and `Tritter.from_hf` / `save_hf` only
delegate here, importing this module when called. Of the ways to break the cycle
between the two modules this is the one that keeps `Tritter.from_hf(dir)` and
`model.save_hf(dir)` (used by the CLI, the checkpoint loader and the tests) without hidden
coupling: free functions alone would drop that API; this module importing `Tritter` and
attaching the methods would make them exist only after an import elsewhere; and a lazy import
in each direction (what this replaced) is still a cycle. What the adapter needs from the model
(the config, the parameter names and shapes, which projections are ternary `BitLinear`s) it
reads off the object it is handed, from an empty meta-device instance when loading; passing the
class also makes `from_hf` on a subclass build that subclass. Importing, building or running a
model never loads this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from tritter import storage
from tritter.config import format_validation_error
from tritter.errors import TritterError
from tritter.model.bitlinear import BitLinear
from tritter.model.config import ModelConfig
from tritter.model.packing import latent_from_packed, pack_model

# The model class `load_hf` builds: constructed from a ModelConfig, with Tritter's module names.
ModelT = TypeVar("ModelT", bound=nn.Module)

# config.json fields copied onto ModelConfig as they are.
MAPPED = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
    "num_key_value_heads",
    "max_position_embeddings",
    "rms_norm_eps",
    "tie_word_embeddings",
    "initializer_range",
)
# Metadata that does not change the forward pass.
IGNORED = {
    "architectures",
    "auto_map",
    "model_type",
    "dtype",
    "torch_dtype",
    "transformers_version",
    "bos_token_id",
    "eos_token_id",
    "pad_token_id",
    "use_cache",
    "_name_or_path",
    "return_dict",
    "output_attentions",
    "output_hidden_states",
}
# Fields Tritter implements for exactly one value (None = the field may also be absent/null).
PINNED: dict[str, tuple[Any, ...]] = {
    "hidden_act": ("relu2",),
    "attention_bias": (False,),
    "mlp_bias": (False,),
    "attention_dropout": (0, 0.0),
    "rope_scaling": (None,),
    "pretraining_tp": (1,),
}
ONLINE_QUANTIZATION = {
    "quant_method": "bitnet",
    "linear_class": "autobitlinear",
    "quantization_mode": "online",
}


def config_from_hf(data: dict[str, Any], source: str = "config.json") -> ModelConfig:
    """Translate a BitNet config.json mapping into a ModelConfig, refusing what we cannot run."""
    if data.get("model_type", "bitnet") != "bitnet":
        raise TritterError(f"{source}: model_type '{data['model_type']}' is not 'bitnet'")
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if key in MAPPED:
            if value is not None:
                fields[key] = value
        elif key in IGNORED:
            continue
        elif key in PINNED:
            if value not in PINNED[key]:
                raise TritterError(
                    f"{source}: unsupported config field '{key}' = {value!r} "
                    f"(Tritter implements {PINNED[key][0]!r})"
                )
        elif key == "rope_theta":
            fields["rope_theta"] = value
        elif key == "rope_parameters":
            fields.update(_rope(value, source))
        elif key == "head_dim":
            _check_head_dim(data, value, source)
        elif key == "quantization_config":
            fmt = quantization_format(data, source)
            fields["quantization"] = "dense" if fmt == "dense" else "ternary"
        else:
            raise TritterError(f"{source}: unsupported config field '{key}'")
    fields.setdefault("quantization", "dense")
    fields.setdefault("num_key_value_heads", fields.get("num_attention_heads"))
    try:
        return ModelConfig.model_validate(fields)
    except Exception as err:  # pydantic's ValidationError, reworded to name the field
        if hasattr(err, "errors"):
            raise TritterError(format_validation_error(err, source)) from err
        raise


def _rope(value: Any, source: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TritterError(f"{source}: config field 'rope_parameters' must be a mapping")
    rope_type = value.get("rope_type", "default")
    if rope_type != "default":
        raise TritterError(
            f"{source}: unsupported config field 'rope_parameters.rope_type' = {rope_type!r}"
        )
    extra = sorted(set(value) - {"rope_type", "rope_theta"})
    if extra:
        raise TritterError(f"{source}: unsupported config field 'rope_parameters.{extra[0]}'")
    return {"rope_theta": value["rope_theta"]} if "rope_theta" in value else {}


def _check_head_dim(data: dict[str, Any], value: Any, source: str) -> None:
    hidden, heads = data.get("hidden_size"), data.get("num_attention_heads")
    if value is not None and hidden and heads and value != hidden // heads:
        raise TritterError(
            f"{source}: unsupported config field 'head_dim' = {value} "
            f"(Tritter uses hidden_size / num_attention_heads = {hidden // heads})"
        )


# (linear_class, quantization_mode) → how the ternary weights are stored.
FORMATS = {("autobitlinear", "online"): "online", ("bitlinear", "offline"): "packed"}


def quantization_format(data: dict[str, Any], source: str = "config.json") -> str:
    """ "dense" (no quantization_config), "online" (latent weights, quantized on the fly) or
    "packed" (2-bit codes + weight_scale, the offline format of microsoft/bitnet-b1.58-2B-4T)."""
    value = data.get("quantization_config")
    if value is None:
        return "dense"
    if not isinstance(value, dict):
        raise TritterError(f"{source}: config field 'quantization_config' must be a mapping")
    if value.get("quant_method") != "bitnet":
        raise TritterError(
            f"{source}: unsupported quantization_config.quant_method {value.get('quant_method')!r}"
        )
    # transformers' BitNetQuantConfig defaults: bitlinear, offline.
    linear_class = value.get("linear_class", "bitlinear")
    mode = value.get("quantization_mode", "offline")
    if linear_class not in ("bitlinear", "autobitlinear"):
        raise TritterError(
            f"{source}: unsupported quantization_config.linear_class {linear_class!r}"
        )
    if (linear_class, mode) not in FORMATS:
        raise TritterError(
            f"{source}: unsupported quantization_config.quantization_mode {mode!r} with "
            f"linear_class {linear_class!r} (Tritter loads autobitlinear + online or "
            "bitlinear + offline)"
        )
    if value.get("use_rms_norm"):
        raise TritterError(f"{source}: unsupported quantization_config.use_rms_norm true")
    skipped = value.get("modules_to_not_convert") or []
    if any(name != "lm_head" for name in skipped):
        raise TritterError(
            f"{source}: unsupported quantization_config.modules_to_not_convert {skipped!r}"
        )
    allowed = {*ONLINE_QUANTIZATION, "use_rms_norm", "rms_norm_eps", "modules_to_not_convert"}
    extra = sorted(set(value) - allowed)
    if extra:
        raise TritterError(f"{source}: unsupported config field 'quantization_config.{extra[0]}'")
    return FORMATS[(linear_class, mode)]


def config_to_hf(config: ModelConfig, dtype: torch.dtype) -> dict[str, Any]:
    """config.json contents that `transformers` reads back as the same model."""
    data: dict[str, Any] = {
        "architectures": ["BitNetForCausalLM"],
        "model_type": "bitnet",
        "hidden_act": "relu2",
        "attention_bias": False,
        "attention_dropout": 0.0,
        **{key: getattr(config, key) for key in MAPPED},
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "dtype": str(dtype).removeprefix("torch."),
    }
    if config.quantization == "ternary":
        data["quantization_config"] = dict(ONLINE_QUANTIZATION)
    return data


def hf_tensor_name(name: str) -> str:
    return name if name.startswith("lm_head.") else f"model.{name}"


def weight_files(directory: Path) -> list[Path]:
    """The safetensors files of a model directory: those its index names, else the single
    model.safetensors; a one-line error when one is missing."""
    index = directory / "model.safetensors.index.json"
    if index.exists():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (ValueError, KeyError) as err:
            raise TritterError(f"{index}: not a safetensors index ({err})") from err
        files = sorted(set(weight_map.values()))
    elif (directory / "model.safetensors").exists():
        files = ["model.safetensors"]
    else:
        raise TritterError(f"{directory}: no model.safetensors (or index) in the directory")
    for name in files:
        if not (directory / name).exists():
            raise TritterError(f"{directory / name}: weight file listed in the index is missing")
    return [directory / name for name in files]


def _read_tensors(directory: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for path in weight_files(directory):
        try:
            tensors.update(load_file(str(path)))
        except (SafetensorError, OSError) as err:
            raise TritterError(f"{path}: unreadable safetensors file ({err})") from err
    return tensors


def load_hf(
    model_class: Callable[[ModelConfig], ModelT], directory: str, dtype: torch.dtype = torch.float32
) -> ModelT:
    """A `model_class` model from a BitNetForCausalLM directory (local or s3://), weights in
    `dtype`. An s3:// directory is downloaded to a temporary folder first."""
    with storage.local_folder(directory) as root:
        return _load(model_class, root, dtype)


def _load(model_class: Callable[[ModelConfig], ModelT], root: Path, dtype: torch.dtype) -> ModelT:
    config_path = root / "config.json"
    if not config_path.exists():
        raise TritterError(f"{config_path}: not found (not a Hugging Face model directory)")
    try:
        data = json.loads(config_path.read_text())
    except ValueError as err:
        raise TritterError(f"{config_path}: invalid JSON ({err})") from err
    if not isinstance(data, dict):
        raise TritterError(f"{config_path}: must hold a JSON object")
    config = config_from_hf(data, str(config_path))

    packed = quantization_format(data, str(config_path)) == "packed"

    # The empty model on the meta device gives the expected names and shapes for free.
    with torch.device("meta"):
        model = model_class(config)
    # name → (shape, kind): "float" tensors, or "codes"/"scale" of packed ternary weights.
    expected: dict[str, tuple[tuple[int, ...], str]] = {
        hf_tensor_name(n): (tuple(p.shape), "float")
        for n, p in model.state_dict(keep_vars=True).items()
    }
    ternary = {n: m for n, m in model.named_modules() if isinstance(m, BitLinear) and m.quantize}
    if packed:
        for name, module in ternary.items():
            rows = -(-module.out_features // 4)
            expected[hf_tensor_name(f"{name}.weight")] = ((rows, module.in_features), "codes")
            expected[hf_tensor_name(f"{name}.weight_scale")] = ((1,), "scale")
    tensors = _read_tensors(root)
    for name, (shape, kind) in expected.items():
        if name not in tensors:
            raise TritterError(f"{root}: missing tensor '{name}'")
        tensor = tensors[name]
        got = tuple(tensor.shape)
        if got != shape and not (kind == "scale" and tensor.numel() == 1):
            raise TritterError(f"{root}: tensor '{name}' has shape {got}, expected {shape}")
        if (kind == "codes") != (tensor.dtype == torch.uint8) or not (
            kind == "codes" or tensor.is_floating_point()
        ):
            raise TritterError(f"{root}: tensor '{name}' has dtype {tensor.dtype}")
    unexpected = sorted(set(tensors) - set(expected))
    if unexpected:
        raise TritterError(f"{root}: unexpected tensor '{unexpected[0]}'")

    state = {}
    for name in model.state_dict(keep_vars=True):
        module = name.rsplit(".", 1)[0]
        if packed and module in ternary:
            state[name] = latent_from_packed(
                tensors[hf_tensor_name(name)],
                tensors[hf_tensor_name(f"{module}.weight_scale")],
                ternary[module].out_features,
            ).to(dtype)
        else:
            state[name] = tensors[hf_tensor_name(name)].to(dtype)
    model.load_state_dict(state, strict=True, assign=True)
    return model


def save_hf(
    model: nn.Module, directory: str, packed: bool = False, dtype: torch.dtype | None = None
) -> None:
    """Write config.json + model.safetensors for `transformers` (config.json written last), each
    file atomically, to a local or s3:// directory. `model` is a Tritter (its `config` and
    parameter names are what is written).

    packed=True writes the 2-bit offline format (`linear_class: bitlinear`, `quantization_mode:
    offline`, see tritter/model/packing.py): ~8× smaller ternary weights, loadable by
    `transformers` and by `Tritter.from_hf` (which turns the codes back into latent weights).
    """
    from safetensors.torch import save_file

    if packed:
        if model.config.quantization != "ternary":
            raise TritterError("save_hf(packed=True) needs a ternary model, not a dense one")
        for name, module in model.named_modules():
            out = getattr(module, "out_features", 0)
            if getattr(module, "quantize", False) and out % 4:
                raise TritterError(
                    f"packed export needs out_features divisible by 4; '{name}' has {out}"
                )
        state = pack_model(model)
    else:
        state = model.state_dict()
    # Ternary codes come from the model's own (full-precision) weights; `dtype` only casts the
    # floating-point tensors written out (packed scales stay fp32).
    dtype = dtype or model.embed_tokens.weight.dtype
    tensors = {}
    for name, tensor in state.items():
        tensor = tensor.detach()
        if tensor.is_floating_point() and not name.endswith(".weight_scale"):
            tensor = tensor.to(dtype)
        tensors[hf_tensor_name(name)] = tensor.contiguous().cpu()
    with storage.atomic_output(storage.join(directory, "model.safetensors")) as path:
        save_file(tensors, str(path), metadata={"format": "pt"})
    config = config_to_hf(model.config, dtype)
    if packed:
        config["quantization_config"] = {
            "quant_method": "bitnet",
            "linear_class": "bitlinear",
            "quantization_mode": "offline",
        }
    storage.write_text(
        storage.join(directory, "config.json"), json.dumps(config, indent=2, sort_keys=True) + "\n"
    )

"""Weight files in int8: twice the parameters of fp16 in the bundle's file-size limit.

A bundled weight file may hold 9.5 MB, which caps an fp16 model near 4.7 M parameters. Stored in int8
with one scale per row (absmax, the weight-only scheme of LLM.int8 without its outlier split), the
same file holds about 9 M. Every matrix of at least ``MIN_QUANTIZED`` elements (the linear layers and
the embeddings) is stored as int8 rows plus an fp32 scale per row under ``<name>.int8_scale``; vectors
(biases, layer norms) and small matrices stay fp16. :func:`read` dequantizes at load time, so the
model runs in fp32 exactly as from an fp16 file and its speed does not change.

    python -m core.int8 assets/xiangqi runs/xiangqi_int8    # an int8 copy of a checkpoint directory
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

SCALE_SUFFIX = ".int8_scale"
MIN_QUANTIZED = 4096  # smaller matrices stay fp16: their size does not matter and their rows are short
WEIGHTS_FILE = "model.safetensors"


def quantize(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors to write: int8 rows with their fp32 scales for large matrices, fp16 for the rest."""
    tensors = {}
    for name, value in state.items():
        if name.endswith(SCALE_SUFFIX):
            raise ValueError(f"tensor name {name!r} ends with {SCALE_SUFFIX!r}, which marks the scales of int8 weights")
        value = value.detach().to("cpu", torch.float32)
        if value.dim() == 2 and value.numel() >= MIN_QUANTIZED:
            # A zero row gets scale 1 rather than 0, so dequantizing never divides by or multiplies into nothing.
            scale = value.abs().amax(dim=1) / 127
            scale = torch.where(scale > 0, scale, torch.ones_like(scale))
            tensors[name] = torch.round(value / scale[:, None]).clamp(-127, 127).to(torch.int8).contiguous()
            tensors[name + SCALE_SUFFIX] = scale.contiguous()
        else:
            tensors[name] = value.to(torch.float16).contiguous()
    return tensors


def dequantize(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """fp32 tensors from a file's tensors, int8 or not (an fp16 or fp32 file passes through as fp32)."""
    state = {}
    for name, value in tensors.items():
        if name.endswith(SCALE_SUFFIX):
            continue
        if value.dtype == torch.int8:
            scale = tensors.get(name + SCALE_SUFFIX)
            if scale is None:
                raise ValueError(f"int8 tensor {name!r} has no {name + SCALE_SUFFIX!r}")
            state[name] = value.float() * scale.float()[:, None]
        else:
            state[name] = value.float()
    orphans = sorted(n for n in tensors if n.endswith(SCALE_SUFFIX) and n[: -len(SCALE_SUFFIX)] not in state)
    if orphans:
        raise ValueError(f"scales without an int8 tensor: {orphans}")
    return state


def read(path: str | Path) -> dict[str, torch.Tensor]:
    """fp32 tensors of a safetensors file written by :func:`write` or as plain fp16/fp32."""
    from safetensors.torch import load_file

    return dequantize(load_file(str(path)))


def write(state: dict[str, torch.Tensor], path: str | Path, int8: bool) -> None:
    """A safetensors file of ``state``: int8 (see :func:`quantize`) or fp16."""
    from safetensors.torch import save_file

    tensors = quantize(state) if int8 else {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in state.items()}
    save_file(tensors, str(path))


def convert(source: Path, target: Path) -> tuple[int, int]:
    """Copy a checkpoint directory with its ``model.safetensors`` rewritten in int8; the two file sizes."""
    if not (source / WEIGHTS_FILE).is_file():
        raise ValueError(f"{source} has no {WEIGHTS_FILE}")
    if target.resolve() == source.resolve():
        raise ValueError("the int8 copy must go to another directory")
    shutil.copytree(source, target, dirs_exist_ok=True)
    write(read(source / WEIGHTS_FILE), target / WEIGHTS_FILE, int8=True)
    return (source / WEIGHTS_FILE).stat().st_size, (target / WEIGHTS_FILE).stat().st_size


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", type=Path, help="checkpoint directory with model.safetensors (xiangqi, roformer_sim)")
    p.add_argument("target", type=Path, help="directory to write the int8 copy to")
    args = p.parse_args(argv)
    before, after = convert(args.source, args.target)
    print(f"{args.target / WEIGHTS_FILE}: {after / 1e6:.2f} MB (was {before / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()

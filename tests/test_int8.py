"""int8 weight files (core.int8): what is quantized, how closely it comes back, and the errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core import int8


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), rows=st.integers(1, 40), magnitude=st.floats(1e-4, 1e3))
def test_every_weight_comes_back_within_half_a_step_of_its_row(seed, rows, magnitude):
    generator = torch.Generator().manual_seed(seed)
    matrix = torch.randn(rows, int8.MIN_QUANTIZED // rows + 1, generator=generator) * magnitude
    matrix[0] = 0  # a zero row must survive too
    tensors = int8.quantize({"w": matrix})
    assert tensors["w"].dtype == torch.int8 and tensors["w"].shape == matrix.shape
    step = matrix.abs().amax(dim=1, keepdim=True) / 127
    back = int8.dequantize(tensors)["w"]
    assert back.dtype == torch.float32
    assert ((back - matrix).abs() <= step / 2 + 1e-6 * magnitude).all()
    assert (back[0] == 0).all()


def test_vectors_and_small_matrices_stay_fp16_and_the_file_shrinks(tmp_path):
    state = {"bias": torch.randn(300), "small": torch.randn(8, 8), "big": torch.randn(256, 128)}
    tensors = int8.quantize(state)
    assert tensors["bias"].dtype == tensors["small"].dtype == torch.float16
    assert set(tensors) == {"bias", "small", "big", "big" + int8.SCALE_SUFFIX}
    int8.write(state, tmp_path / "a.safetensors", int8=True)
    int8.write(state, tmp_path / "b.safetensors", int8=False)
    assert (tmp_path / "a.safetensors").stat().st_size < 0.6 * (tmp_path / "b.safetensors").stat().st_size
    fp16 = int8.read(tmp_path / "b.safetensors")
    assert all(torch.equal(fp16[k], state[k].half().float()) for k in state)


def test_malformed_files_and_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="marks the scales"):
        int8.quantize({"w" + int8.SCALE_SUFFIX: torch.zeros(3)})
    with pytest.raises(ValueError, match="has no 'w.int8_scale'"):
        int8.dequantize({"w": torch.zeros(2, 2, dtype=torch.int8)})
    with pytest.raises(ValueError, match="scales without an int8 tensor"):
        int8.dequantize({"v" + int8.SCALE_SUFFIX: torch.ones(2)})
    with pytest.raises(ValueError, match="has no model.safetensors"):
        int8.convert(tmp_path, tmp_path / "copy")
    int8.write({"w": torch.zeros(2)}, tmp_path / int8.WEIGHTS_FILE, int8=False)
    with pytest.raises(ValueError, match="another directory"):
        int8.convert(tmp_path, tmp_path)

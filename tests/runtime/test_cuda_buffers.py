"""The CUDA buffer layer: dtype/size mapping everywhere; copies, ordering, pinned memory, events on a GPU."""

import numpy as np
import pytest

from fastscnn_edge.core.errors import UserError
from fastscnn_edge.runtime.cuda_buffers import TRT_TO_NUMPY, nbytes, numpy_dtype, volume


@pytest.mark.parametrize("name,dtype", [("FLOAT", np.float32), ("HALF", np.float16), ("INT8", np.int8),
                                        ("INT32", np.int32), ("INT64", np.int64), ("BOOL", np.bool_),
                                        ("UINT8", np.uint8), ("DataType.HALF", np.float16)])
def test_tensorrt_dtype_names_map_to_numpy(name, dtype):
    assert numpy_dtype(name) == np.dtype(dtype)


def test_types_numpy_lacks_are_refused():
    for name in ("BF16", "FP8", "INT4"):
        with pytest.raises(UserError, match="no numpy equivalent"):
            numpy_dtype(name)


def test_volume_and_nbytes():
    assert volume((1, 3, 64, 128)) == 24576
    assert nbytes((1, 3, 64, 128), "FLOAT") == 98304
    assert nbytes((1, 64, 128, 3), np.uint8) == 24576
    assert nbytes((1, 64, 128), "HALF") == 16384
    assert set(TRT_TO_NUMPY) >= {"FLOAT", "HALF", "INT32", "UINT8"}
    with pytest.raises(UserError, match="dynamic dimension"):
        volume((1, 3, -1, -1))


# ---------------------------------------------------------------------------------------------
# GPU


def _cuda():
    from fastscnn_edge.runtime import cuda_buffers

    try:
        cuda_buffers.backend()
    except UserError as exc:  # MissingDependency: neither cuda-python nor pycuda
        pytest.skip(str(exc))
    return cuda_buffers


@pytest.mark.gpu
def test_h2d_d2h_round_trip_through_pinned_memory():
    cb = _cuda()
    stream = cb.Stream()
    src = cb.PinnedHostBuffer((2, 3, 5), np.float32)
    dst = cb.PinnedHostBuffer((2, 3, 5), "FLOAT")
    src.array[...] = np.arange(30, dtype=np.float32).reshape(2, 3, 5)
    dev = cb.DeviceBuffer(src.nbytes)
    dev.copy_from(src.array, stream)
    dev.copy_to(dst.array, stream)
    stream.synchronize()
    np.testing.assert_array_equal(dst.array, src.array)
    for r in (dev, src, dst, stream):
        r.close()


@pytest.mark.gpu
def test_copies_on_one_stream_run_in_order():
    """H2D of a, then H2D of b into the same buffer, then D2H: the result must be b."""
    cb = _cuda()
    stream = cb.Stream()
    n = 1 << 22  # 16 MB: large enough that unordered copies would be caught
    a = cb.PinnedHostBuffer((n,), np.float32)
    b = cb.PinnedHostBuffer((n,), np.float32)
    out = cb.PinnedHostBuffer((n,), np.float32)
    a.array[:] = 1.0
    b.array[:] = 2.0
    dev = cb.DeviceBuffer(a.nbytes)
    dev.copy_from(a.array, stream)
    dev.copy_from(b.array, stream)
    dev.copy_to(out.array, stream)
    stream.synchronize()
    assert float(out.array.min()) == 2.0 and float(out.array.max()) == 2.0
    for r in (dev, a, b, out, stream):
        r.close()


@pytest.mark.gpu
def test_pinned_buffer_is_a_writable_numpy_view():
    cb = _cuda()
    buf = cb.PinnedHostBuffer((4, 4), np.uint8)
    assert buf.array.shape == (4, 4) and buf.array.dtype == np.uint8 and buf.array.flags["C_CONTIGUOUS"]
    buf.array[...] = 7
    assert int(buf.array.sum()) == 7 * 16 and buf.nbytes == 16
    buf.close()


@pytest.mark.gpu
def test_events_time_a_copy():
    cb = _cuda()
    stream = cb.Stream()
    host = cb.PinnedHostBuffer((1 << 22,), np.float32)
    dev = cb.DeviceBuffer(host.nbytes)
    start, end = cb.Event(), cb.Event()
    start.record(stream)
    dev.copy_from(host.array, stream)
    end.record(stream)
    end.synchronize()
    ms = start.elapsed_ms(end)
    assert 0.0 < ms < 10_000.0
    for r in (dev, host, start, end, stream):
        r.close()


@pytest.mark.gpu
def test_wrong_sizes_are_user_errors_and_device_is_named():
    cb = _cuda()
    stream = cb.Stream()
    dev = cb.DeviceBuffer(16)
    with pytest.raises(UserError, match="holds 64 bytes"):
        dev.copy_from(np.zeros(16, np.float32), stream)
    with pytest.raises(UserError, match="contiguous"):
        dev.copy_to(np.zeros((4, 4), np.uint8)[:, ::2], stream)
    info = cb.device_info()
    assert info.name and info.compute_capability[0] >= 3
    dev.close()
    stream.close()

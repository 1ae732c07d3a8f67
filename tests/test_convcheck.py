"The guard against wrong CPU convolution kernels: every convolution of the backbone, forward and backward, on this machine."
import pytest

from memo_nb.training.convcheck import check_this_cpu, isa_limits, conv_cases


def test_every_convolution_of_the_backbone_is_correct_on_this_cpu():
    """Widths 1-16, channels_last and contiguous, 1 and 2 threads, under this CPU's own kernels and (on an AVX-512 CPU) the AVX2
    ones, each in a subprocess with a timeout: a crash, a hang or a result off by more than 1e-4 fails, naming the shape."""
    failures = check_this_cpu(widths=(1, 2, 4, 8, 16), threads=(1, 2), timeout=300)
    assert not failures, '\n'.join(failures)


def test_the_check_covers_every_kind_of_convolution_the_profiles_use():
    "The shortcuts (1x1, stride 2) and 3x3 convolutions at stride 1 and 2, at the CPU profiles' batch, at every width checked."
    for width in (1, 2, 4, 8, 16):
        cases = conv_cases(width)
        assert {(c.kernel, c.stride) for c in cases} == {(3, 1), (3, 2), (1, 2)}
        assert all(c.input_shape[0] == 32 for c in cases)
        assert [c.c_in for c in cases if c.kernel == 1] == [width, 2*width, 4*width]
    assert isa_limits()[0] is None

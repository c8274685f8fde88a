"""Fitting records to the model's input length, and stitching window scores back per base."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deeplift_genomics.io.onehot import one_hot
from deeplift_genomics.score.windows import plan_windows, stitch, strict_one_hot, tile_offsets, window_inputs


@settings(max_examples=60, deadline=None)
@given(window=st.integers(1, 30), extra=st.integers(0, 100), stride=st.integers(1, 30))
def test_tiles_cover_every_base_and_stay_inside(window, extra, stride):
    stride = min(stride, window)
    length = window + extra
    starts = tile_offsets(length, window, stride)
    covered = np.zeros(length, dtype=int)
    for s in starts:
        covered[s : s + window] += 1
    assert covered.min() >= 1
    assert starts[0] == 0 and starts[-1] == length - window
    assert np.all(np.diff(starts) > 0) and np.all(np.diff(starts) <= stride)


def test_stitch_averages_overlapping_windows():
    plan = plan_windows(7, 4, long="tile", stride=2)
    assert plan.action == "tiled" and plan.offsets.tolist() == [0, 2, 3]
    values = np.array([[1.0, 1, 1, 1], [2.0, 2, 2, 2], [4.0, 4, 4, 4]])[:, None, :]
    # base 0,1: window 0 only; 2: windows 0,1; 3: windows 0,1,2; 4: 1,2; 5: 1,2; 6: window 2
    expected = [1, 1, 1.5, 7 / 3, 3, 3, 4]
    np.testing.assert_allclose(stitch(values, plan)[0], expected, rtol=1e-6)


def test_crop_keeps_the_centre_window():
    plan = plan_windows(11, 4, long="crop")
    assert plan.action == "cropped" and plan.offsets.tolist() == [3]
    assert (plan.scored_start, plan.scored_end) == (3, 7)
    seq = "AAACGTGAAAA"
    # exact: one-hot data (0/1)
    assert np.array_equal(window_inputs(seq, plan, 4)[0], one_hot("CGTG")[0])


@pytest.mark.parametrize("pad_value", [0.0, 0.25])
def test_pad_centres_the_record_and_fills_pad_value(pad_value):
    plan = plan_windows(3, 8, short="pad")
    assert plan.action == "padded" and plan.offsets.tolist() == [-2]
    x = window_inputs("CGT", plan, 8, pad_value=pad_value)[0]
    # exact: one-hot data (0/1)
    assert np.array_equal(x[:, 2:5], one_hot("CGT")[0])
    assert np.all(x[:, :2] == pad_value) and np.all(x[:, 5:] == pad_value)
    values = np.arange(8, dtype=np.float32)[None, None, :]
    assert stitch(values, plan)[0].tolist() == [2, 3, 4]


def test_short_skip_and_equal_length():
    assert plan_windows(3, 8, short="skip").n_windows == 0
    plan = plan_windows(8, 8)
    assert plan.action == "as_is" and plan.offsets.tolist() == [0]


def test_strict_one_hot_zeroes_uniform_and_pad_columns():
    x = window_inputs("ANC", plan_windows(3, 5), 5, pad_value=0.25, unknown="uniform")
    ohe = strict_one_hot(x)[0]
    assert ohe.sum(axis=0).tolist() == [0, 1, 0, 1, 0]

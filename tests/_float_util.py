"""How the tests compare floats: exactly only where equality must hold on any CPU, else a stated tolerance.

Exact equality holds on any CPU for pure copies (reads back of written bytes, slicing, reordering),
integer or one-hot data, and results of the same computation on the same shapes in the same process
(the same kernels with the same blocking). It does not hold between batches of other shapes or other
company: BLAS/oneDNN choose their blocking, and so the order of float32 sums, from the shape and a row's
position, differently on different CPUs (docs/scoring.md).
"""

from __future__ import annotations

import numpy as np

#: float32 unit roundoff, 2^-24.
F32_U = 2.0**-24
#: One record's float32 scores computed in batches of other shapes or company, relative to the record's
#: largest |score|: rounding of float32 sums taken in another order, a few F32_U per term of reductions of
#: tens to hundreds of terms (1.4e-7 measured on an AMD EPYC; the promise in docs/scoring.md is 1e-5).
OTHER_BATCH_REL = 1e-5


def assert_close_to_scale(actual, desired, rel: float = OTHER_BATCH_REL, err_msg: str = "") -> None:
    """``|actual - desired| <= rel * max|desired|`` element-wise (NaN where both are NaN)."""
    desired = np.asarray(desired, dtype=np.float64)
    finite = desired[np.isfinite(desired)]
    scale = float(np.abs(finite).max()) if finite.size else 0.0
    # the stated tolerance of this helper (rel times the largest |desired|), not relative per element
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), desired, rtol=0,
                               atol=rel * max(scale, np.finfo(np.float32).tiny), err_msg=err_msg)

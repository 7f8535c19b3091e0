"""The shared logistic regression: standardisation, missing values, constant features, shape checks."""

from __future__ import annotations

import numpy as np
import pytest

from core import logistic


def test_fit_separates_and_treats_missing_values_as_average():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=500)
    rows = np.stack([signal + 0.1 * rng.normal(size=500), np.full(500, 3.0), rng.normal(size=500)], axis=1)
    fitted = logistic.fit(rows, signal > 0, l2=1e-4)
    assert fitted.scale[1] == 1.0 and fitted.weights[1] == 0.0  # a constant feature is left alone
    assert ((fitted.probabilities(rows) > 0.5) == (signal > 0)).mean() > 0.95
    missing = fitted.probabilities([[np.nan, 3.0, 0.0], [fitted.mean[0], 3.0, 0.0]])
    assert missing[0] == pytest.approx(missing[1])  # NaN reads as the training mean
    with pytest.raises(ValueError, match="rows of 3 features"):
        fitted.probabilities([[1.0, 2.0]])
    with pytest.raises(ValueError, match="as many labels as rows"):
        logistic.fit(rows, [1.0], l2=1e-4)

from __future__ import annotations

import numpy as np
import pytest

from model.evaluation import PcaWhitening, raw_pixel_features


def test_raw_pixel_features_by_hand() -> None:
    images = np.array([[[[0, 255], [51, 102]]], [[[255, 255], [0, 0]]]], dtype=np.uint8)  # (2, 1, 2, 2)
    # 51 / 255 = 0.2, 102 / 255 = 0.4
    got = raw_pixel_features(images)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [[0.0, 1.0, 0.2, 0.4], [1.0, 1.0, 0.0, 0.0]], rtol=1e-6)


def test_raw_pixel_features_reject_other_inputs() -> None:
    with pytest.raises(ValueError):
        raw_pixel_features(np.zeros((2, 1, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError):
        raw_pixel_features(np.zeros((2, 4), dtype=np.uint8))


@pytest.mark.parametrize(("n", "d", "components"), [(10, 50, 9), (40, 6, 6), (300, 200, 128)])
def test_number_of_components(n: int, d: int, components: int) -> None:
    x = np.random.default_rng(0).normal(size=(n, d))
    z = PcaWhitening().fit(x).transform(x[:5])
    assert z.shape == (5, components)


def test_whitened_cosines_match_a_numpy_svd() -> None:
    rng = np.random.default_rng(1)
    train = rng.normal(size=(30, 5)) * np.array([10.0, 5.0, 1.0, 0.5, 0.1])  # very unequal variances
    test = rng.normal(size=(8, 5)) * np.array([10.0, 5.0, 1.0, 0.5, 0.1])
    # whitening: project on the principal axes (rows of Vt) and divide by the std along each, S / sqrt(n - 1)
    mean = train.mean(axis=0)
    _, s, vt = np.linalg.svd(train - mean, full_matrices=False)
    w = (test - mean) @ vt.T / (s / np.sqrt(len(train) - 1))
    w /= np.linalg.norm(w, axis=1, keepdims=True)
    z = PcaWhitening().fit(train).transform(test)
    assert z.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(z @ z.T, w @ w.T, atol=1e-5)  # cosines do not depend on the axes' signs
    # without whitening the largest-variance axis would dominate the cosines
    u = (test - mean) / np.linalg.norm(test - mean, axis=1, keepdims=True)
    assert not np.allclose(z @ z.T, u @ u.T, atol=1e-2)


def test_whitening_gives_train_components_unit_variance() -> None:
    x = np.random.default_rng(2).normal(size=(200, 20)) * np.arange(1, 21)
    model = PcaWhitening(max_components=5).fit(x)
    np.testing.assert_allclose(model.pca.transform(x).std(axis=0, ddof=1), 1.0, rtol=1e-6)


def test_transform_before_fit_fails() -> None:
    with pytest.raises(RuntimeError):
        PcaWhitening().transform(np.zeros((2, 3)))

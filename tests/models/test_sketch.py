"""Sketch extractors: XDoG and Canny on a synthetic square (PiDiNet and HED: test_sketch_learned.py)."""
import numpy as np
import pytest

from semcom_models.decoders.base import Conditioning
from semcom_models.sketch import canny, extract_sketch, sketch_frames, xdog


def _square(h=64, w=80):
    """A bright square (rows and columns 20..43) on a dark background."""
    img = np.full((h, w, 3), 30, dtype=np.uint8)
    img[20:44, 20:44] = 220
    return img


def _edge_band(h=64, w=80, width=5):
    """Mask of the pixels within ``width`` of the square's border."""
    m = np.zeros((h, w), bool)
    m[20 - width:44 + width, 20 - width:44 + width] = True
    m[20 + width:44 - width, 20 + width:44 - width] = False
    return m


@pytest.mark.parametrize("method", ["xdog", "canny"])
def test_edges_only_on_the_square_border(method):
    sk = extract_sketch(_square(), method)
    assert sk.shape == (64, 80) and sk.dtype == np.uint8
    band = _edge_band()
    assert sk[band].max() == 255 if method == "canny" else sk[band].max() > 200
    assert sk[~band].max() == 0          # flat regions, inside and outside, have no edges
    assert (sk[band] > 127).sum() >= 4 * 20  # most of the perimeter is drawn
    if method == "canny":
        assert set(np.unique(sk)) <= {0, 255}


def test_xdog_parameters_matter():
    img = _square()
    thin, thick = xdog(img, sigma=0.6), xdog(img, sigma=2.0)
    assert (thick > 127).sum() > (thin > 127).sum()
    with pytest.raises(ValueError):
        xdog(img, k=1.0)
    with pytest.raises(ValueError):
        canny(img, low=200, high=100)


def test_sketch_frames_fit_conditioning():
    frames = np.stack([_square(), np.roll(_square(), 5, axis=1), _square()])
    sk = sketch_frames(frames, [0, 2])
    assert sorted(sk) == [0, 2]
    Conditioning(num_frames=3, height=64, width=80, sketches=sk).validate()
    assert len(sketch_frames(frames, method="canny")) == 3
    with pytest.raises(ValueError, match="outside"):
        sketch_frames(frames, [3])


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown sketch method"):
        extract_sketch(_square(), "dexined")
    with pytest.raises(ValueError, match="H x W x 3"):
        xdog(_square()[..., 0])
    with pytest.raises(ValueError, match="uint8"):
        canny(_square().astype(np.float32))


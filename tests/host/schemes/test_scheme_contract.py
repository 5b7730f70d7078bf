"""The contract every built-in scheme keeps (semcom_host.schemes.base), checked the same way for
each: encode -> the ideal channel (semcom_host.schemes.common.ideal_received: every unit arrives as
sent) -> decode.

- encode: a non-empty list of Transmissions, every unit named, kind digital or analog, analog
  symbols of unit average power; a context of msgpack types; the same call twice gives the same
  transmissions (determinism);
- decode: uint8 frames of the input's shape; a report of msgpack types with the CBR figures
  (0 < paper <= net < gross) and the receiver's SNR estimate;
- losses: with half the transmissions lost, or all of them (the context still known), decoding
  returns frames of the right shape and a report, never an exception.

A scheme added to the registry runs this contract without a line added here. lgvsc-skem needs a
vision-language model: it runs with a tiny random Qwen2.5-VL (tests/helpers/tiny_models.py).
"""
from __future__ import annotations

import msgpack
import numpy as np
import pytest

from helpers.clips import clip_frames
from semcom_blocks.phy.frame import Transmission
from semcom_host.schemes import builtin_schemes
from semcom_host.schemes.common import cbr_figures, ideal_received

CAPTION = "a bright square drifts to the right across a striped background"
T, SIZE, FPS = 8, 64, 8.0
SCHEMES = [s.name for s in builtin_schemes()]


def fingerprint(transmissions: list[Transmission]) -> list:
    return [(tx.seq, tx.frame_type, [(u.name, u.kind, bytes(u.data) if u.kind == "digital"
                                      else np.asarray(u.data, np.complex64).tobytes()) for u in tx.units])
            for tx in transmissions]


@pytest.fixture(scope="module")
def vlm_path(tmp_path_factory):
    pytest.importorskip("transformers")
    from helpers import tiny_models as tm

    with tm.torch_threads(1):
        return tm.save_qwen_vl(tmp_path_factory.mktemp("vlm"), version="2.5")


class TestSchemeContract:
    """One instance per built-in scheme (``name``)."""

    @pytest.fixture(params=SCHEMES)
    def scheme(self, request):
        from semcom_host.service.registry import get_scheme, load_builtin_schemes

        load_builtin_schemes()
        spec = get_scheme(request.param)
        params = {"image_size": SIZE} if "image_size" in (spec.defaults or {}) else {}
        if "caption" in (spec.defaults or {}):
            params["caption"] = CAPTION
        if request.param == "lgvsc-skem":
            params.update(vlm_path=str(request.getfixturevalue("vlm_path")), eta=-1.0)
        p = spec.merge_params(params)
        p["fps"] = FPS
        return spec, p

    @pytest.fixture
    def encoded(self, scheme):
        spec, p = scheme
        frames = clip_frames(T, SIZE)
        frames.flags.writeable = False   # the contract: a read-only view
        txs, ctx = spec.encoder(frames, dict(p))
        return spec, p, txs, ctx

    def test_encode_gives_named_units_and_a_msgpack_context(self, encoded):
        spec, p, txs, ctx = encoded
        assert isinstance(txs, list) and txs and all(isinstance(t, Transmission) for t in txs)
        for tx in txs:
            assert tx.units
            for u in tx.units:
                assert isinstance(u.name, str) and u.name and u.kind in ("digital", "analog")
                if u.kind == "analog":
                    sym = np.asarray(u.data)
                    assert sym.ndim == 1 and np.iscomplexobj(sym) and np.all(np.isfinite(sym))
                    assert np.mean(np.abs(sym) ** 2) <= 1.0 + 1e-3   # unit average power (a flat frame: 0)
        assert isinstance(ctx, dict)
        assert msgpack.unpackb(msgpack.packb(ctx, use_bin_type=True), raw=False) is not None

    def test_encode_is_deterministic(self, encoded):
        spec, p, txs, _ = encoded
        again, _ = spec.encoder(clip_frames(T, SIZE), dict(p))
        assert fingerprint(again) == fingerprint(txs)

    def test_ideal_channel_decodes_to_the_input_shape_with_cbr_figures(self, encoded):
        spec, p, txs, ctx = encoded
        frames, report = spec.decoder(ideal_received(txs), ctx, dict(p))
        assert frames.dtype == np.uint8 and frames.shape == (T, SIZE, SIZE, 3)
        assert isinstance(report, dict)
        msgpack.packb(report, use_bin_type=True)   # msgpack types only
        cbr = cbr_figures(txs, T, SIZE, SIZE)
        assert 0 < cbr["cbr_net"] < cbr["cbr_gross"]
        if "cbr_net" in report:
            assert report["cbr_net"] == pytest.approx(cbr["cbr_net"])
            assert 0 < report.get("cbr_paper", report["cbr_net"]) <= report["cbr_net"]

    @pytest.mark.parametrize("lost", ["odd", "all"])
    def test_losses_are_concealed_not_raised(self, encoded, lost):
        spec, p, txs, ctx = encoded
        received = ideal_received(txs)
        received = received[::2] if lost == "odd" else []
        frames, report = spec.decoder(received, ctx, dict(p))
        assert frames.dtype == np.uint8 and frames.shape == (T, SIZE, SIZE, 3)
        assert isinstance(report, dict)

"""The fixed-against-adaptive figure (semcom_host.experiments.adaptive_figure) from a real tiny
sweep: pairs by label, one row per channel, the CBR in the legend, a clear exit without results."""
from __future__ import annotations

import numpy as np
import yaml

from semcom_host.experiments import adaptive_figure
from semcom_host.sweep import latest_records, load_config, read_results, run_sweep


def test_pairs_and_figure_from_a_tiny_sweep(tmp_path, capsys):
    from semcom_models.video_io import write_video

    y, x = np.mgrid[0:64, 0:64]
    frames = np.stack([np.stack([(x * 4 + t * 8) % 256, (y * 4) % 256, (x + y + t) % 256], -1)
                       for t in range(6)]).astype(np.uint8)
    clip = write_video(tmp_path / "tiny.mp4", frames, 25.0)
    cfg_path = tmp_path / "pair.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "name": "pair", "videos": [str(clip)], "channels": ["awgn", "epa"], "snrs": [0, 10], "frames": 6,
        "size": 64, "via": "engine", "out": str(tmp_path / "out"),
        "schemes": [{"scheme": "raw-analog", "label": "toy-fixed"}, {"scheme": "djscc-rgb", "label": "toy-adaptive"},
                    {"scheme": "raw-analog", "label": "unpaired"}]}))
    out = tmp_path / "fig.png"
    assert adaptive_figure.main(["--sweep", str(cfg_path), "--out", str(out)]) == 1  # nothing run yet
    assert "semcom sweep" in capsys.readouterr().err
    cfg = load_config(cfg_path)
    run_sweep(cfg, progress=False)
    table = adaptive_figure.pair_rows(cfg, latest_records(read_results(cfg.results_path)[0]))
    assert list(table["pairs"]) == ["toy"] and set(table["pairs"]["toy"]) == {"fixed", "adaptive"}
    awgn = table["pairs"]["toy"]["adaptive"]["awgn"]
    assert [s for s, _ in awgn] == [0.0, 10.0] and all("psnr" in m for _, m in awgn)
    assert table["cbr"]["toy-fixed"] > 0
    assert adaptive_figure.main(["--sweep", str(cfg_path), "--out", str(out), "--json"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""`semcom run`: one video, one scheme, one channel, through the loopback flowgraph; measured.

What happens (``run_video``):

1. ``read``: the clip is read as the service will read it (first ``frames`` frames, resized to
   ``size`` x ``size``): the reference for the metrics.
2. ``load_models``: the semantic service starts in this process on a free loopback port, with
   every built-in scheme, its codecs loaded first (or ``address`` names a running one, e.g. on a
   GPU host).
3. ``flowgraph``: semcom_blocks.video_loopback (flowgraphs/video_loopback_nogui.grc): Semantic Source ->
   OFDM Burst TX -> SemCom Channel (``channel`` scenario at ``snr_db``, Es/N0 per data
   subcarrier in dB) -> OFDM Burst RX -> Semantic Sink. The service's stage timings of the
   encoder (``tx_*``) and decoder (``rx_*``) come back in the report. With ``via="engine"`` the
   same scheme runs in this process over the PHY engine (semcom_blocks.phy.loopback) instead:
   same transmitter, channel model and receiver, no GNU Radio scheduler (for sweeps).
4. ``metrics``: PSNR, SSIM, MS-SSIM of the reconstruction against the reference
   (semcom_models.metrics; MS-SSIM needs frames of at least 176 pixels a side), plus LPIPS and
   CLIP when their weights are configured (semcom_host.eval), else the reason they are missing.
5. ``write`` (when ``out_dir`` is given): ``reconstructed.mp4``, ``strip.png`` (original above,
   reconstruction below, evenly spaced frames) and ``report.json``.

Report fields: scheme, preset, decoder, channel, snr_db (the channel's), tx_snr_db (what the
transmitter designed for: the receiver's estimate of probe bursts fed back, or the snr_db param),
probe_snr_est_db, snr_est_db (the receiver's estimate on the clip), cbr_net, cbr_gross,
cbr_paper (and bcr_paper where the paper counts bits), psnr, ssim, ms_ssim, lpips/clip or
``metrics_skipped``, digital units sent / delivered bit-exact, transmissions sent / received,
the receiver's counters, the scheme's own report and ``stage_seconds``.
"""
from __future__ import annotations

import json
import math
import time
from importlib import resources
from pathlib import Path

import numpy as np

from semcom_host.clips import fill_captions, find_captions, resolve_clip

__all__ = ["run_video", "load_preset", "preset_names", "find_captions", "DEFAULT_SIZE", "DEFAULT_FRAMES"]

DEFAULT_SIZE = 256
DEFAULT_FRAMES = 16
#: the SNR (dB) a transmitter designs for when no probe burst was received (the channel is worse
#: than the PHY's detection limit)
PROBE_LOST_SNR_DB = -5.0


# -- presets ---------------------------------------------------------------------------------
def preset_names() -> list[str]:
    """Names of the bundled presets (host/schemes/presets/*.yaml)."""
    folder = resources.files("semcom_host.schemes").joinpath("presets")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_preset(name_or_path: str) -> dict:
    """A preset: {scheme, params, description, paper, ...} from a bundled name or a YAML path."""
    from semcom_models.yaml_files import load_yaml_map

    p = Path(name_or_path)
    if p.suffix not in (".yaml", ".yml"):
        p = Path(str(resources.files("semcom_host.schemes").joinpath("presets", f"{name_or_path}.yaml")))
        if not p.is_file():
            raise ValueError(f"unknown preset {name_or_path!r}; bundled: {', '.join(preset_names())}")
    if not p.is_file():
        raise FileNotFoundError(f"preset file {p} does not exist")
    data = load_yaml_map(p, "a preset")
    if not isinstance(data.get("scheme"), str):
        raise ValueError(f"{p}: a preset is a YAML map with at least 'scheme' (and 'params')")
    data["params"] = data.get("params") or {}
    if not isinstance(data["params"], dict):
        raise ValueError(f"{p}: 'params' must be a map")
    data.setdefault("name", p.stem)
    return data


# -- helpers ---------------------------------------------------------------------------------
def _digital_check(sent: list, received: list) -> dict:
    """Digital units sent, and delivered with a passing CRC and the exact bytes sent."""
    from semcom_blocks.phy.wire import unpack_transmission

    ref = {}
    for raw in sent:
        tx = unpack_transmission(raw)
        for u in tx.units:
            if u.kind == "digital":
                ref[(tx.seq, u.name)] = u.data
    exact = set()
    for rx in received:
        for u in rx["units"]:
            key = (rx["seq"], u["name"])
            if u["kind"] == "digital" and key in ref and u["crc_ok"] and bytes(u["data"]) == ref[key]:
                exact.add(key)
    return {"digital_units_sent": len(ref), "digital_units_exact": len(exact)}


def write_strip(path: Path, original: np.ndarray, rebuilt: np.ndarray, columns: int = 6, title: str = "") -> Path:
    """PNG: ``columns`` evenly spaced frames, original (top row) above reconstruction (bottom)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = original.shape[0]
    idx = np.unique(np.linspace(0, t - 1, min(columns, t)).round().astype(int))
    fig, axes = plt.subplots(2, len(idx), figsize=(2.2 * len(idx), 4.9), squeeze=False)
    for j, i in enumerate(idx):
        for r, (frames, label) in enumerate(((original, "original"), (rebuilt, "reconstructed"))):
            ax = axes[r][j]
            ax.imshow(frames[i])
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_ylabel(label)
            if r == 0:
                ax.set_title(f"frame {i}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _quality(rebuilt: np.ndarray, reference: np.ndarray, tx_ctx: dict, params: dict) -> dict:
    """psnr, ssim, ms_ssim, whatever optional metric has local weights (semcom_host.eval), and how
    well the sent descriptions survive: CLIP text score of each sent caption against its frames,
    and BERTScore of the reconstruction's captions (by the scheme's ``captioner``) against them."""
    from semcom_host.eval.suite import description_metrics, video_metrics

    m = video_metrics(reference, rebuilt, tasks=())
    out = {"psnr": m["psnr_db"], "ssim": m["ssim"], "ms_ssim": m["ms_ssim"]}
    out.update({k: m[k] for k in ("lpips", "lpips_net", "dists", "clip_image") if k in m})
    skipped = dict(m.get("skipped") or {})
    described = sent_descriptions(tx_ctx, reference.shape[0])
    captioner = _eval_captioner(params, skipped) if described else None
    # GVSC's video-level BERTScore averages 3 sampled descriptions of the reconstruction
    d = description_metrics(described, reference, rebuilt, captioner=captioner, samples=3 if len(described) == 1 else 1)
    out.update({k: v for k, v in d.items() if k != "skipped"})
    for k, why in (d.get("skipped") or {}).items():
        skipped.setdefault(k, why)
    out["metrics_skipped"] = skipped
    return out


def sent_descriptions(tx_ctx: dict, num_frames: int) -> list[tuple[int, int, str]]:
    """(start, stop, caption) of what the transmitter described: LGVSC's caption per segment, GVSC's
    clip caption; [] for schemes that send no text."""
    segs = (tx_ctx.get("manifest") or {}).get("segs")
    if isinstance(tx_ctx.get("captions"), list) and segs:
        return [(int(a), int(b), c) for (a, b), c in zip(segs, tx_ctx["captions"]) if c]
    if isinstance(tx_ctx.get("caption"), str) and tx_ctx["caption"]:
        return [(0, num_frames, tx_ctx["caption"])]
    return []


#: the VLM that describes reconstructions for BERTScore when the scheme names none (used when found)
EVAL_CAPTIONER = "qwen2.5-vl"


def _eval_captioner(params: dict, skipped: dict):
    """The VLM captioner that describes the reconstruction: the scheme's own (``captioner``, with
    the same video sampling that described the source), else ``EVAL_CAPTIONER`` when its weights
    are found locally; None otherwise (reason in ``skipped["bertscore"]``)."""
    from semcom_host.schemes.common import vlm_captioner
    from semcom_models.model_paths import ModelNotFoundError, env_var, resolve_model_path

    p = dict(params)
    if not p.get("captioner"):
        try:
            resolve_model_path(EVAL_CAPTIONER)
        except ModelNotFoundError:
            skipped["bertscore"] = (f"no captioner to describe the reconstruction: set the scheme's captioner "
                                    f"param, or ${env_var(EVAL_CAPTIONER)} for {EVAL_CAPTIONER}")
            return None
        p["captioner"], p["captioner_path"] = EVAL_CAPTIONER, ""
    try:
        return vlm_captioner(p)
    except (OSError, ImportError, ValueError) as exc:
        skipped["bertscore"] = f"captioner {p['captioner']}: {type(exc).__name__}: {exc}"
        return None


# -- the run -----------------------------------------------------------------------------------
def run_video(video, scheme: str | None = None, *, preset: str | None = None, channel: str = "awgn",
              snr_db: float = 10.0, params: dict | None = None, frames: int = DEFAULT_FRAMES,
              size: int = DEFAULT_SIZE, out_dir=None, seed: int = 1, cfo: float = 1.2, address: str | None = None,
              via: str = "flowgraph", timeout_s: float = 900.0, impairments: dict | None = None,
              link_adaptation: bool = False, feedback_delay: int = 0, feedback_loss: float = 0.0, log=None) -> dict:
    """Run one clip through one scheme and channel; the report dict (see the module docstring).
    ``impairments``: single radio impairments added to the channel scenario's
    (``semcom_blocks.phy.channel.scenario_settings`` overrides: dc_dbc, phase_noise_hz, ...).
    ``snr_db``: a number, or "START:STOP" for a channel whose SNR ramps over the clip's
    transmissions (PHY engine). ``link_adaptation``: each transmission's LDPC units coded for the
    SNR the receiver fed back, ``feedback_delay`` transmissions late, ``feedback_loss`` of the
    reports lost (semcom_blocks.phy.link_adapt; in the flowgraph a Feedback Link into OFDM Burst
    TX); the report's ``link_decisions`` lists each transmission's decision."""
    from semcom_blocks.phy.channel import scenario_settings
    from semcom_blocks.phy.loopback import is_trajectory, probe_snr, snr_trajectory
    from semcom_host.service.registry import get_scheme, load_builtin_schemes
    from semcom_models.video_io import read_video

    say = log or (lambda *a: None)
    stages: dict[str, float] = {}
    t_all = time.perf_counter()
    video = resolve_clip(str(video))
    if via not in ("flowgraph", "engine"):
        raise ValueError("via must be 'flowgraph' or 'engine'")
    varying = is_trajectory(snr_db)
    closed_loop = varying or link_adaptation
    if varying and via != "engine":
        raise ValueError("an SNR trajectory (START:STOP or a file) runs through the PHY engine: add via='engine' "
                         "(--via engine)")
    if varying and not isinstance(snr_db, str):
        snr_db = snr_trajectory(snr_db, len(snr_db))  # checked, as floats
    first_snr = snr_trajectory(snr_db, 1)[0]
    preset_data = load_preset(preset) if preset else None
    if preset_data:
        if scheme and scheme != preset_data["scheme"]:
            raise ValueError(f"preset {preset} is for scheme {preset_data['scheme']!r}, not {scheme!r}")
        scheme = preset_data["scheme"]
    if not scheme:
        raise ValueError("give a scheme or a preset")
    load_builtin_schemes()
    spec = get_scheme(scheme)
    p = dict(preset_data["params"]) if preset_data else {}
    p.update(params or {})
    defaults = spec.defaults or {}
    impairments = {k: v for k, v in (impairments or {}).items() if v is not None}
    settings = scenario_settings(channel, cfo, **impairments)
    probe = None
    if "snr_db" in defaults and "snr_db" not in (params or {}):
        # no genie: the transmitter designs for what the receiver measured on probe bursts through
        # the same channel and fed back (the lowest design point when none got through)
        probe = probe_snr(first_snr, channel, cfo=cfo, seed=seed, **impairments)
        p["snr_db"] = float(probe if probe is not None else PROBE_LOST_SNR_DB)
    if "image_size" in defaults and "image_size" not in p:
        p["image_size"] = int(size)
    fill_captions(defaults, p, video)
    spec.merge_params(p)  # bad params fail here, before anything starts

    t0 = time.perf_counter()
    reference, fps = read_video(video, max_frames=frames or None, size=(size, size) if size else None)
    stages["read"] = time.perf_counter() - t0
    say(f"{scheme}: {reference.shape[0]} frames {reference.shape[2]}x{reference.shape[1]} of {video.name}, "
        f"{channel} at {snr_text(snr_db)} dB ({via})")

    t0 = time.perf_counter()
    from semcom_host.schemes.common import warm_up

    if address is None:   # the service runs in this process: load its models before the clock starts
        warm_up()
    stages["load_models"] = time.perf_counter() - t0
    if via == "engine":
        rebuilt, rx_report, sent, received, rx_stats, tx_ctx, seconds = _run_engine(
            spec, reference, fps, p, channel, snr_db, cfo, seed, impairments,
            {"adapt": link_adaptation, "feedback_delay": feedback_delay, "feedback_loss": feedback_loss,
             "initial_snr_db": p.get("snr_db", first_snr)} if closed_loop else None)
        stages["engine"] = seconds
    else:
        rebuilt, rx_report, sent, received, rx_stats, tx_ctx, seconds = _run_flowgraph(
            scheme, video, p, frames, size, settings, snr_db, seed, address, out_dir, timeout_s,
            {"link_adaptation": True, "feedback_delay": feedback_delay, "feedback_loss": feedback_loss,
             "initial_snr_db": p.get("snr_db", first_snr)} if link_adaptation else {})
        stages["flowgraph"] = seconds
    for k, v in (tx_ctx.get("stage_seconds") or {}).items():
        stages[f"tx_{k}"] = v
    for k, v in (rx_report.get("stage_seconds") or {}).items():
        stages[f"rx_{k}"] = v

    t0 = time.perf_counter()
    if rebuilt.shape != reference.shape:
        raise RuntimeError(f"the receiver produced {rebuilt.shape}, the reference is {reference.shape}")
    quality = _quality(rebuilt, reference, tx_ctx, p)
    stages["metrics"] = time.perf_counter() - t0

    report = {"scheme": scheme, "preset": preset_data["name"] if preset_data else None,
              "video": str(video), "frames": int(reference.shape[0]), "height": int(reference.shape[1]),
              "width": int(reference.shape[2]), "fps": fps, "via": via,
              "decoder": rx_report.get("decoder"), "decoder_chain": rx_report.get("decoder_chain"),
              "seconds_per_generated_second": rx_report.get("seconds_per_generated_second"),
              "channel": channel, "impairments": impairments,
              "snr_db": snr_db if varying else float(snr_db),
              "tx_snr_db": p.get("snr_db"), "probe_snr_est_db": probe,
              **({"link_decisions": tx_ctx["link_decisions"],
                  "feedback": {"delay": feedback_delay, "loss": feedback_loss,
                               "delivered": rx_stats.get("feedback_delivered"), "lost": rx_stats.get("feedback_lost")}}
                 if "link_decisions" in tx_ctx else {}),
              "snr_est_db": rx_report.get("snr_est_db"), "seed": seed,
              **{k: tx_ctx.get(k) for k in ("cbr_net", "cbr_gross", "cbr_paper")},
              **({"bcr_paper": tx_ctx["bcr_paper"]} if "bcr_paper" in tx_ctx else {}),
              **quality,
              "transmissions_sent": len(sent), "transmissions_received": len(received),
              **_digital_check(sent, received), "receiver": rx_stats, "params": p,
              "scheme_report": {k: v for k, v in rx_report.items() if k != "stage_seconds"}}
    if report["snr_est_db"] is None and received:
        from semcom_host.schemes.common import snr_estimate

        report["snr_est_db"] = snr_estimate(received)
    if out_dir is not None:
        t0 = time.perf_counter()
        out = Path(out_dir)
        from semcom_models.video_io import write_video

        write_video(out / "reconstructed.mp4", rebuilt, fps or 25.0)
        write_strip(out / "strip.png", reference, rebuilt,
                    title=f"{scheme} ({report['decoder']}), {channel} {snr_text(snr_db)} dB: "
                          f"PSNR {report['psnr']:.2f} dB, CBR {report['cbr_net']:.4f}")
        stages["write"] = time.perf_counter() - t0
        report["outputs"] = {"video": str(out / "reconstructed.mp4"), "strip": str(out / "strip.png"),
                             "report": str(out / "report.json")}
    stages["total"] = time.perf_counter() - t_all
    report["stage_seconds"] = {k: round(v, 4) for k, v in stages.items()}
    if out_dir is not None:
        (Path(out_dir) / "report.json").write_text(json.dumps(report, indent=2, default=jsonable))
    return report


def jsonable(x):
    """``json.dumps``' default for what reports hold beyond JSON: numpy scalars and arrays, bytes
    (as their length), anything else as its str."""
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, bytes):
        return f"<{len(x)} bytes>"
    return str(x)


def _run_engine(spec, reference, fps, params, channel, snr_db, cfo, seed, impairments, loop=None):
    """The scheme in this process over the PHY engine; see run_video. ``loop``: the closed-loop
    settings (simulate_closed_loop's adapt, feedback_delay, feedback_loss, initial_snr_db), or None
    for the open loop at one SNR."""
    from semcom_blocks.phy.loopback import simulate, simulate_closed_loop
    from semcom_blocks.phy.wire import pack_transmission
    from semcom_host.service.registry import received_to_dict

    t0 = time.perf_counter()
    merged = spec.merge_params(params)
    merged["fps"] = float(fps or 25.0)
    txs, ctx = spec.encoder(reference, merged)
    if loop is None:
        frames_rx, stats = simulate(txs, snr_db, channel, cfo=cfo, seed=seed, **impairments)
    else:
        frames_rx, stats, decisions = simulate_closed_loop(txs, snr_db, channel, cfo=cfo, seed=seed, **loop,
                                                           **impairments)
        ctx = {**ctx, "link_decisions": decisions}
    received = [received_to_dict(f) for f in frames_rx]
    rebuilt, report = spec.decoder(received, ctx, merged)   # with nothing received the scheme conceals
    return (np.asarray(rebuilt), report, [pack_transmission(t) for t in txs], received, stats, ctx,
            time.perf_counter() - t0)


def snr_text(snr_db) -> str:
    """An SNR setting for a title: "10", "12:0" (a ramp), a file's name, or "12..0" (a list)."""
    if isinstance(snr_db, str):
        return snr_db if ":" in snr_db else Path(snr_db).name
    if isinstance(snr_db, (list, tuple)):
        return f"{format(float(snr_db[0]), 'g')}..{format(float(snr_db[-1]), 'g')}" if snr_db else "-"
    return format(float(snr_db), "g")


def _run_flowgraph(scheme, video, params, frames, size, settings, snr_db, seed, address, out_dir, timeout_s,
                   loop=None):
    """The scheme through flowgraphs/video_loopback; see run_video. ``loop``: video_loopback's
    link-adaptation arguments (none: the open loop)."""
    import tempfile

    from semcom_blocks.pdu_util import pdu_to_python
    from semcom_blocks.phy.wire import unpack_received
    from semcom_blocks.video_loopback import video_loopback
    from semcom_host.service import Server
    from semcom_host.service.registry import received_to_dict

    server = None
    if address is None:
        server = Server("tcp://127.0.0.1:*")
        address = server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="semcom_run_") as tmp:
            npy = Path(tmp) / "rx.npy"
            tb = video_loopback(address, scheme, str(video), str(npy), params=params, max_frames=frames,
                                height=size, width=size, seed=seed,
                                channel={"snr_db": float(snr_db), **settings}, timeout_s=timeout_s, **(loop or {}))
            seconds = tb.run_to_end(timeout_s)
            outcome = tb.sink.outcome or {}
            if tb.source.last_error:     # the encode failed (e.g. a model without local weights): say why
                raise RuntimeError(f"the semantic source failed: {tb.source.last_error}")
            if outcome.get("state") != "decoded":
                raise RuntimeError(f"the loopback did not decode: {outcome.get('error') or 'no outcome'}")
            rebuilt = np.load(npy)
            sink_report = json.loads(Path(outcome["report"]).read_text())
            received = []
            for i in range(tb.received.num_messages()):
                received.append(received_to_dict(unpack_received(pdu_to_python(tb.received.get_message(i))[1].tobytes())))
            result = tb.source.result
            sent = list(result.transmissions) if result is not None else []
            ctx = dict(result.context) if result is not None else {}
            rx_report = dict(sink_report.get("report") or {})
            rx_stats = {k: v for k, v in tb.rx.stats().items() if isinstance(v, int)}
            rx_stats["sink_trigger"] = sink_report.get("trigger")
            if tb.feedback is not None:
                ctx["link_decisions"] = tb.tx.decisions()
                rx_stats.update({f"feedback_{k}": v for k, v in tb.feedback.stats().items()})
            return rebuilt, rx_report, sent, received, rx_stats, ctx, seconds
    finally:
        if server is not None:
            server.stop()


def format_report(r: dict) -> str:
    """A few human-readable lines of a run report."""
    def f(x, spec):
        return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)

    lines = [f"scheme {r['scheme']}  decoder {r['decoder']}  channel {r['channel']} {snr_text(r['snr_db'])} dB "
             f"(estimated {f(r['snr_est_db'], '.2f')} dB)",
             f"CBR net {f(r['cbr_net'], '.5f')}  gross {f(r['cbr_gross'], '.5f')}  paper {f(r['cbr_paper'], '.5f')}",
             f"PSNR {f(r['psnr'], '.2f')} dB  SSIM {f(r['ssim'], '.4f')}  MS-SSIM {f(r['ms_ssim'], '.4f')}",
             f"transmissions {r['transmissions_received']}/{r['transmissions_sent']}  digital units bit-exact "
             f"{r['digital_units_exact']}/{r['digital_units_sent']}",
             "stages (s): " + ", ".join(f"{k} {v:.3f}" for k, v in r["stage_seconds"].items())]
    if "outputs" in r:
        lines.append(f"wrote {r['outputs']['video']}, {r['outputs']['strip']}, {r['outputs']['report']}")
    return "\n".join(lines)

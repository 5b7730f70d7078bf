"""GNU Radio block: record a complex stream as a SigMF recording (``sigmf_sink``, hier block).

In: complex64 samples. Writes ``<base>.sigmf-data`` (cf32_le, the samples exactly as they
arrive, through GNU Radio's C++ ``blocks.file_sink``; nothing per sample in Python) and
``<base>.sigmf-meta`` (``semcom_blocks.sigmf_meta.make_meta``: datatype, sample rate in Hz,
SigMF version, recorder "gr-semcom", optional description, author and hardware; one capture at
sample 0 with the centre frequency in Hz and the UTC time).

The metadata is written, atomically, when the block is built, before any sample flows: a
flowgraph killed at any point leaves valid JSON beside however many samples reached the disk.
Its ``core:datetime`` is therefore the time the flowgraph was set up, which precedes the first
sample by the start-up time (for a USRP, typically well under a second); use the USRP's
``rx_time`` tags where sample-accurate time matters.

An empty ``base`` turns recording off: the input goes to a null sink and no file is touched
(a flowgraph can then keep the block in place and record on demand with a command-line
parameter). An existing recording with the same base is overwritten; the directory must exist.
"""
from __future__ import annotations

from gnuradio import blocks, gr

from .sigmf_meta import host_is_little_endian, make_meta, recording_paths, write_meta

__all__ = ["sigmf_sink"]


class sigmf_sink(gr.hier_block2):
    """Complex stream -> ``<base>.sigmf-data`` + ``<base>.sigmf-meta`` (module docstring).

    ``base``: path without extension (a path ending in .sigmf-meta or .sigmf-data is accepted
    and names the same pair); "" records nothing. ``samp_rate``, ``center_freq``: Hz.
    ``description``, ``author``, ``hw``: free text, left out of the metadata when empty.
    """

    def __init__(self, base: str = "", samp_rate: float = 1e6, center_freq: float = 0.0, description: str = "",
                 author: str = "", hw: str = ""):
        gr.hier_block2.__init__(self, "sigmf_sink", gr.io_signature(1, 1, gr.sizeof_gr_complex),
                                gr.io_signature(0, 0, 0))
        base = str(base).strip() if base is not None else ""
        self.meta_path = self.data_path = None
        self.meta = None
        if not base:
            self.sink = blocks.null_sink(gr.sizeof_gr_complex)
            self.connect(self, self.sink)
            return
        if not host_is_little_endian():
            raise RuntimeError("sigmf_sink writes cf32_le, the memory layout of little-endian hosts only")
        meta_path, data_path = recording_paths(base)
        self.meta = make_meta(samp_rate, center_freq, description=description, author=author, hw=hw)
        self.meta_path = write_meta(meta_path, self.meta)  # before the data file: valid from the start
        self.data_path = data_path
        self.sink = blocks.file_sink(gr.sizeof_gr_complex, str(data_path), False)
        self.sink.set_unbuffered(False)
        self.connect(self, self.sink)
        gr.logger("sigmf_sink").info(f"recording to {data_path}: {self.meta['global']['core:sample_rate']} S/s, "
                                     f"centre frequency {self.meta['captures'][0]['core:frequency']} Hz")

    @property
    def recording(self) -> bool:
        """Whether this block writes a recording (False for an empty base path)."""
        return self.data_path is not None

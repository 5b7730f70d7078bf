"""GNU Radio block: replay a SigMF recording as a complex stream (``sigmf_source``, hier block).

Reads the recording's metadata (``semcom_blocks.sigmf_meta.read_recording``: the datatype must
be one of ``SAMPLE_FORMATS``; missing files are ``FileNotFoundError`` and malformed or
unsupported metadata ``ValueError``, both naming the path) and streams the data file with GNU
Radio's C++ blocks:

* ``cf32_le``: ``blocks.file_source`` of complex64, samples as recorded;
* ``ci16_le``: ``blocks.file_source`` of int16 -> ``blocks.interleaved_short_to_complex`` with
  scale factor 32768, i.e. sample = (I + jQ) / 32768 (int16 full scale -> +-1.0);
* ``ci8``: int8 -> ``blocks.interleaved_char_to_complex`` with scale factor 128.

Only whole samples are played (the bytes of a sample cut off at the end of a recording are
skipped, with a warning). Without ``repeat`` the stream ends after the last sample, which ends
a flowgraph that runs to completion; with ``repeat`` it starts over forever. The recording's
sample rate and centre frequency (Hz) are ``samp_rate()`` and ``center_freq()`` (None where
the metadata leaves them out); nothing throttles the stream to that rate.
"""
from __future__ import annotations

from gnuradio import blocks, gr

from .sigmf_meta import Recording, host_is_little_endian, read_recording

__all__ = ["sigmf_source"]

_CONVERTERS = {  # datatype -> (file item size, converter factory or None)
    "cf32_le": (gr.sizeof_gr_complex, None),
    "ci16_le": (gr.sizeof_short, lambda scale: blocks.interleaved_short_to_complex(False, False, scale)),
    "ci8": (gr.sizeof_char, lambda scale: blocks.interleaved_char_to_complex(False, scale)),
}


class sigmf_source(gr.hier_block2):
    """SigMF recording -> complex stream (module docstring).

    ``path``: the recording's base path, or its .sigmf-meta or .sigmf-data file.
    ``repeat``: play it over and over instead of ending the stream.
    """

    def __init__(self, path: str, repeat: bool = False):
        gr.hier_block2.__init__(self, "sigmf_source", gr.io_signature(0, 0, 0),
                                gr.io_signature(1, 1, gr.sizeof_gr_complex))
        self.recording: Recording = read_recording(path)
        rec = self.recording
        if not host_is_little_endian() and rec.datatype.endswith("_le"):
            raise RuntimeError(f"{rec.meta_path}: {rec.datatype} is read on little-endian hosts only")
        if rec.n_samples == 0:
            raise ValueError(f"{rec.data_path}: the recording holds no complete sample")
        log = gr.logger("sigmf_source")
        if rec.partial_bytes:
            log.warn(f"{rec.data_path}: {rec.partial_bytes} bytes after the last whole sample are skipped")
        item_size, converter = _CONVERTERS[rec.datatype]
        items = rec.n_samples * rec.format.sample_bytes // item_size
        self.file = blocks.file_source(item_size, str(rec.data_path), bool(repeat), 0, items)
        if converter is None:
            self.connect(self.file, self)
        else:
            self.converter = converter(rec.format.scale)
            self.connect(self.file, self.converter, self)
        log.info(f"{rec.meta_path}: {rec.n_samples} samples {rec.datatype}, sample rate "
                 f"{rec.sample_rate} Hz, centre frequency {rec.center_freq} Hz, repeat {bool(repeat)}")

    def samp_rate(self) -> float | None:
        """The recording's core:sample_rate in Hz (None if absent)."""
        return self.recording.sample_rate

    def center_freq(self) -> float | None:
        """core:frequency of the recording's first capture in Hz (None if absent)."""
        return self.recording.center_freq

    def n_samples(self) -> int:
        """Complex samples in one pass over the recording."""
        return self.recording.n_samples

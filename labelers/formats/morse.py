"""Synthesis of the GB 45438 §5.3 audio rhythm label: "short long short short" = Morse "AI".

GB 45438 gives the rhythm but no timing, frequency or level (``labeling.md`` §2.3). Choices:

- Morse timing with a unit of 100 ms: dot = 1 unit, dash = 3 units, 1 unit of silence between
  the elements of a letter and **3 units between A and I**, so the cue reads as "AI" (·− ··)
  and not as "L" (·−··), the mistake of ``gtkit/aigc``. The pattern lasts 11 units (1.1 s).
- An 800 Hz sine (inside the 600-1000 Hz band of the recommendation), lowered for very low
  sample rates so it stays below Nyquist, with 5 ms raised-cosine ramps against clicks.
- Level matched to the programme: the tone's RMS equals the gated RMS of the programme
  (50 ms blocks above -70 dBFS, in the spirit of ITU-R BS.1770's absolute gate), clamped to
  [-30 dBFS, -3 dBFS] peak so that a silent programme still gets an audible cue and a loud one
  cannot clip after lossy re-encoding.
- Silence separates the cue from the programme: 4 units on the programme side (clearly longer
  than any gap inside the cue) and 1 unit at the file edge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (tone units, silence units after it): A = · −, a 3-unit letter gap, then I = · ·
PATTERN: tuple[tuple[int, int], ...] = ((1, 1), (3, 3), (1, 1), (1, 0))
MIN_PEAK = 10 ** (-30 / 20)
MAX_PEAK = 10 ** (-3 / 20)
_GATE = 10 ** (-70 / 20)


@dataclass(frozen=True, slots=True)
class CueParams:
    """Timing and pitch of the cue; the defaults are the documented choice."""

    unit_s: float = 0.1
    frequency_hz: float = 800.0
    ramp_s: float = 0.005
    guard_units: int = 4  # silence between cue and programme
    edge_units: int = 1  # silence between cue and the start/end of the file

    def __post_init__(self) -> None:
        if not 0.02 <= self.unit_s <= 1.0:
            raise ValueError("cue unit must be between 20 ms and 1 s")
        if not 100.0 <= self.frequency_hz <= 4000.0:
            raise ValueError("cue frequency must be between 100 Hz and 4 kHz")
        if self.guard_units < 0 or self.edge_units < 0:
            raise ValueError("cue silences cannot be negative")


def programme_rms(samples: np.ndarray, samplerate: int, *, scale: float = 1.0) -> float:
    """Gated RMS of the programme (all channels pooled) in full-scale units; 0.0 when silent.

    ``samples`` are frames ``(n, channels)`` of any numeric dtype; ``scale`` converts them to
    full scale 1.0 (e.g. 1/32768 for int16). Works through the signal in slices, so memory
    stays small for long programmes.
    """
    x = samples.reshape(samples.shape[0], -1)
    if x.size == 0:
        return 0.0
    block = max(1, int(samplerate * 0.05))
    slice_frames = block * max(1, (1 << 18) // (block * x.shape[1]))
    powers = []
    for start in range(0, x.shape[0], slice_frames):
        part = x[start : start + slice_frames].astype(np.float64) * scale
        whole = (part.shape[0] // block) * block
        if whole:
            powers.append(np.mean((part[:whole] ** 2).reshape(whole // block, -1), axis=1))
        if part.shape[0] > whole:
            powers.append(np.array([np.mean(part[whole:] ** 2)]))
    power = np.concatenate(powers)
    loud = power[power > _GATE**2]
    return float(np.sqrt(loud.mean())) if loud.size else 0.0


def cue_peak(rms: float) -> float:
    """Peak amplitude of the tone whose RMS matches ``rms``, clamped to a safe range."""
    return float(min(MAX_PEAK, max(MIN_PEAK, rms * np.sqrt(2.0))))


def cue_frames(samplerate: int, params: CueParams) -> int:
    """Length in frames of one cue block (pattern plus its silences)."""
    units = sum(t + g for t, g in PATTERN) + params.guard_units + params.edge_units
    return units * _unit_frames(samplerate, params)


def synthesize(
    samplerate: int, channels: int, peak: float, params: CueParams, *, at_start: bool
) -> np.ndarray:
    """The cue block as float64 frames ``(n, channels)``: silence, "·− ··" tones, silence.

    ``at_start`` puts the short edge silence first and the guard silence towards the programme
    (after the cue); otherwise the guard comes first.
    """
    if samplerate <= 0 or channels <= 0:
        raise ValueError("sample rate and channels must be positive")
    unit = _unit_frames(samplerate, params)
    freq = min(params.frequency_hz, samplerate * 0.4)
    ramp = max(1, min(int(params.ramp_s * samplerate), unit // 4))
    parts: list[np.ndarray] = []
    edge, guard = params.edge_units, params.guard_units
    lead, tail = (edge, guard) if at_start else (guard, edge)
    parts.append(np.zeros(lead * unit))
    for tone_units, gap_units in PATTERN:
        n = tone_units * unit
        t = np.arange(n) / samplerate
        envelope = np.ones(n)
        fade = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp) / ramp)
        envelope[:ramp] = fade
        envelope[n - ramp :] = fade[::-1]
        parts.append(peak * envelope * np.sin(2 * np.pi * freq * t))
        parts.append(np.zeros(gap_units * unit))
    parts.append(np.zeros(tail * unit))
    mono = np.concatenate(parts)
    return np.repeat(mono[:, None], channels, axis=1)


def _unit_frames(samplerate: int, params: CueParams) -> int:
    return max(4, round(params.unit_s * samplerate))


def has_cue(samples: np.ndarray, samplerate: int, params: CueParams, *, at_start: bool) -> bool:
    """True when the first (``at_start``) or last frames already hold our "AI" cue.

    Looks at the edge silence, the pattern and two units of the guard: exactly four tone
    bursts (5 ms RMS envelope above half its maximum) with durations 1-3-1-1 units and gaps
    1-3-1 units (within 40 %), and the dominant frequency within 10 % of the cue tone. Used
    to keep explicit labeling idempotent; works after lossy re-encoding.
    """
    unit = _unit_frames(samplerate, params)
    span = (sum(t + g for t, g in PATTERN) + params.edge_units + 2) * unit
    if samples.shape[0] < span + unit:
        return False
    edge = samples[:span] if at_start else samples[-span:]
    mono = edge.reshape(span, -1).astype(np.float64).mean(axis=1)  # scale-free test
    hop = max(1, samplerate // 200)
    n = mono.size // hop
    env = np.sqrt(np.mean(mono[: n * hop].reshape(n, hop) ** 2, axis=1))
    if env.max() <= 0:
        return False
    on = np.concatenate([[False], env > 0.5 * env.max(), [False]])
    edges = np.flatnonzero(np.diff(on.astype(np.int8)))
    starts, ends = edges[0::2], edges[1::2]
    if starts.size != len(PATTERN):
        return False
    unit_hops = unit / hop
    tones = (ends - starts) / unit_hops
    gaps = (starts[1:] - ends[:-1]) / unit_hops
    want_tones = np.array([t for t, _ in PATTERN], dtype=float)
    want_gaps = np.array([g for _, g in PATTERN[:-1]], dtype=float)
    if np.any(np.abs(tones - want_tones) > 0.4 * want_tones + 0.3):
        return False
    if np.any(np.abs(gaps - want_gaps) > 0.4 * want_gaps + 0.3):
        return False
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    peak_hz = np.fft.rfftfreq(mono.size, 1 / samplerate)[int(np.argmax(spectrum))]
    expected = min(params.frequency_hz, samplerate * 0.4)
    return bool(abs(peak_hz - expected) <= 0.1 * expected)

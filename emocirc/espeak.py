"""A small ctypes driver for the eSpeak NG speech synthesiser.

The ``espeakng-loader`` wheel ships the eSpeak NG shared library and its voice
data, so speech can be synthesised with no system package and no network.
This module drives the library's C API (``speak_lib.h``) in synchronous mode:
one call returns the whole utterance as 16-bit samples at the library's own
rate (22,050 Hz).

eSpeak NG keeps state between utterances in static variables that neither
``espeak_Terminate`` nor ``espeak_Initialize`` resets (the glottal-pulse
phase, the flutter index), so the same text and settings come out a few
samples different depending on what was spoken before.  To make every
utterance a pure function of its arguments, :func:`synthesize` unloads and
reloads the library before each call (about 3 ms).  The library's state is
global to the process, so calls are serialised with a lock; parallel
synthesis uses processes, not threads.

:func:`synthesize_phonemes` also returns eSpeak's phoneme events (the
library's ``espeakEVENT_PHONEME``, enabled by
``espeakINITIALIZE_PHONEME_EVENTS``): where in the output each phoneme
starts and its IPA name, the alignment of the read-speech corpus
(:mod:`emocirc.readspeech`).  Asking for the events does not change the
samples.

Examples
--------
>>> wave, rate = synthesize("Hallo Welt.", voice="de+m3")
>>> rate
22050
>>> wave.dtype, wave.ndim, wave.size > rate // 4
(dtype('int16'), 1, True)
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emocirc.errors import EmocircError

# speak_lib.h constants.  Only synchronous retrieval is used: the library
# hands each synthesised chunk to a callback and returns when the text is done.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_INITIALIZE_PHONEME_EVENTS = 0x0001  # report espeakEVENT_PHONEME events
_INITIALIZE_PHONEME_IPA = 0x0002  # ... with IPA names rather than eSpeak's mnemonics
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EE_OK = 0

#: eSpeak parameter ids (``espeak_PARAMETER``).
PARAMETERS: dict[str, int] = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}

#: Allowed values of each parameter, as documented in ``speak_lib.h``.
PARAMETER_RANGES: dict[str, tuple[int, int]] = {
    "rate": (80, 450),  # words per minute
    "volume": (0, 200),  # percent; above 100 may clip
    "pitch": (0, 100),  # base pitch, 50 = the voice's normal
    "range": (0, 100),  # pitch range, 0 = monotone, 50 = normal
    "wordgap": (0, 100),  # extra pause between words, in units of 10 ms
}

#: What is not a phoneme in :func:`synthesize_phonemes`: eSpeak's pauses and the
#: silence before the first phoneme.
SILENCE = "sil"

# Stress marks are part of eSpeak's IPA names of vowels ("ˈaʊ"); the phoneme is the rest.
_STRESS = str.maketrans("", "", "ˈˌ")


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    """``espeak_EVENT`` of speak_lib.h (API revision 12)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms, rounded down
        ("sample", ctypes.c_int),  # the output sample at which the event happens
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)

_lock = threading.Lock()
_state: dict[str, object] = {}


@dataclass(frozen=True)
class EspeakSettings:
    """Voice and parameters of one eSpeak call.

    Parameters
    ----------
    voice : str
        eSpeak voice name with an optional variant, e.g. ``"de+m3"`` or ``"en-us+f2"``.
    rate : int
        Speech rate in words per minute (80-450; 175 is eSpeak's default).
    pitch : int
        Base pitch, 0-100 (50 is the voice's normal).
    range : int
        Pitch range, 0-100 (0 is monotone, 50 normal).
    volume : int
        Amplitude in percent (0-200).
    wordgap : int
        Extra pause between words in units of 10 ms.

    Examples
    --------
    >>> EspeakSettings("de+f2", rate=200).rate
    200
    """

    voice: str = "en-us"
    rate: int = 175
    pitch: int = 50
    range: int = 50
    volume: int = 100
    wordgap: int = 0

    def __post_init__(self) -> None:
        for name, (low, high) in PARAMETER_RANGES.items():
            value = getattr(self, name)
            if not (isinstance(value, int | np.integer) and low <= value <= high):
                raise EmocircError(f"eSpeak {name}={value!r}: expected an integer in [{low}, {high}]")


def library_path() -> Path:
    """Path of the eSpeak NG shared library shipped by ``espeakng-loader``.

    Examples
    --------
    >>> library_path().name.startswith("libespeak-ng")
    True
    """
    try:
        import espeakng_loader
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise EmocircError(
            "espeakng-loader is not installed: expected `pip install espeakng-loader`"
        ) from err
    return Path(espeakng_loader.get_library_path())


def data_path() -> Path:
    """Path of the ``espeak-ng-data`` folder shipped by ``espeakng-loader``."""
    import espeakng_loader

    return Path(espeakng_loader.get_data_path())


def _library(options: int = 0) -> ctypes.CDLL:
    """Load and initialise the library with ``options`` (call with ``_lock`` held)."""
    lib = _state.get("lib")
    if lib is not None and _state.get("options") == options:
        return lib  # type: ignore[return-value]
    _unload()
    path = library_path()
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as err:
        raise EmocircError(f"{path}: cannot load the eSpeak NG library ({err})") from err
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_Synth.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_char_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Info.restype = ctypes.c_char_p
    lib.espeak_Info.argtypes = [ctypes.c_void_p]
    lib.espeak_Terminate.restype = ctypes.c_int
    lib.espeak_Terminate.argtypes = []
    lib.espeak_ng_SetRandSeed.restype = None
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    # The path argument is the folder that *contains* espeak-ng-data.
    home = str(data_path().parent).encode()
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, home, _INITIALIZE_DONT_EXIT | options)
    if rate <= 0:
        raise EmocircError(f"{path}: eSpeak NG failed to initialise with data in {home.decode()}")
    chunks: list[np.ndarray] = []
    events: list[tuple[int, str]] = []

    def collect(wav, numsamples, event_list):  # noqa: ANN001 - C callback
        if wav and numsamples > 0:
            chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while event_list and event_list[i].type != _EVENT_LIST_TERMINATED:
            event = event_list[i]
            if event.type == _EVENT_PHONEME:
                name = bytes(event.id.string).split(b"\0", 1)[0].decode("utf-8", "replace")
                events.append((int(event.sample), name))
            i += 1
        return 0

    callback = _SYNTH_CALLBACK(collect)
    lib.espeak_SetSynthCallback(callback)
    # Keep the callback object alive as long as the library may call it.
    _state.update(lib=lib, rate=rate, chunks=chunks, events=events, callback=callback, options=options)
    return lib


def _unload() -> None:
    """Unload the library so that the next call starts from fresh static state (``_lock`` held)."""
    lib = _state.pop("lib", None)
    if lib is None:
        return
    lib.espeak_Terminate()
    # dlclose drops the last reference, so the next dlopen maps fresh statics.
    _ctypes.dlclose(lib._handle)


def sample_rate() -> int:
    """Sample rate of eSpeak NG's output in Hz.

    Examples
    --------
    >>> sample_rate()
    22050
    """
    with _lock:
        _library()
        return int(_state["rate"])  # type: ignore[call-overload]


@functools.cache  # the library cannot change within a process
def version() -> str:
    """Version string of the loaded eSpeak NG library (part of the synthetic corpora's cache key).

    Examples
    --------
    >>> version()[0].isdigit()
    True
    """
    with _lock:
        lib = _library()
        return lib.espeak_Info(None).decode()


def synthesize(
    text: str, voice: str = "en-us", settings: EspeakSettings | None = None
) -> tuple[np.ndarray, int]:
    """Synthesise ``text`` and return ``(samples, sample_rate)``.

    Parameters
    ----------
    text : str
        Plain text (UTF-8); punctuation shapes eSpeak's intonation.
    voice : str
        Voice name used when ``settings`` is not given.
    settings : EspeakSettings, optional
        Voice and parameters; overrides ``voice``.

    Returns
    -------
    samples : numpy.ndarray
        int16 mono samples.
    sample_rate : int
        22,050 Hz for the shipped voices.

    Notes
    -----
    The output depends only on the arguments: the same call gives the same
    samples whatever was synthesised before, in this process or another.

    Examples
    --------
    >>> a, _ = synthesize("Guten Tag.", voice="de+f2")
    >>> _ = synthesize("Something else entirely!", voice="en-us+m1")
    >>> b, _ = synthesize("Guten Tag.", voice="de+f2")
    >>> bool((a == b).all())
    True
    >>> slow, _ = synthesize("one two three", settings=EspeakSettings("en-us", rate=100))
    >>> fast, _ = synthesize("one two three", settings=EspeakSettings("en-us", rate=300))
    >>> slow.size > 1.5 * fast.size
    True
    """
    wave, rate, _ = _synthesize(text, settings or EspeakSettings(voice), options=0)
    return wave, rate


def synthesize_phonemes(
    text: str, voice: str = "en-us", settings: EspeakSettings | None = None
) -> tuple[np.ndarray, int, list[tuple[int, int, str]]]:
    """Synthesise ``text`` and report where each phoneme is: ``(samples, sample_rate, segments)``.

    Parameters are those of :func:`synthesize`, and the samples are the same.

    Returns
    -------
    samples : numpy.ndarray
        int16 mono samples (identical to :func:`synthesize`'s).
    sample_rate : int
        22,050 Hz.
    segments : list of (start, end, phoneme)
        Sample ranges ``[start, end)`` that tile the whole output, each with
        the IPA name of its phoneme without stress marks (``"aʊ"``, ``"ð"``,
        ``"ɚ"``), or :data:`SILENCE` for eSpeak's pauses and the lead-in.
        A phoneme lasts from its event to the next one; the last segment
        ends with the output.

    Examples
    --------
    >>> wave, rate, segments = synthesize_phonemes("the house", voice="en-us")
    >>> [p for _, _, p in segments if p != SILENCE]
    ['ð', 'ə', 'h', 'aʊ', 's']
    >>> segments[0][0], segments[-1][1] == wave.size
    (0, True)
    >>> bool((wave == synthesize("the house", voice="en-us")[0]).all())
    True
    """
    wave, rate, events = _synthesize(
        text, settings or EspeakSettings(voice), options=_INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA
    )
    return wave, rate, phoneme_segments(events, wave.size)


def phoneme_segments(events: list[tuple[int, str]], n_samples: int) -> list[tuple[int, int, str]]:
    """Turn phoneme events ``(sample, IPA name)`` into segments that tile ``[0, n_samples)``.

    Empty names (eSpeak's pauses) and the time before the first event become
    :data:`SILENCE`; neighbouring segments of the same phoneme are merged;
    events past the end are clipped.

    Examples
    --------
    >>> phoneme_segments([(10, "ð"), (30, "ˈə"), (50, ""), (60, "")], 80)
    [(0, 10, 'sil'), (10, 30, 'ð'), (30, 50, 'ə'), (50, 80, 'sil')]
    """
    bounds: list[tuple[int, str]] = [(0, SILENCE)]
    for sample, name in events:
        phone = name.translate(_STRESS).strip() or SILENCE
        start = int(np.clip(sample, 0, n_samples))
        if start == bounds[-1][0]:
            bounds[-1] = (start, phone)  # the later event at the same sample wins
        elif phone != bounds[-1][1]:
            bounds.append((start, phone))
    segments = [
        (start, end, phone)
        for (start, phone), (end, _) in zip(bounds, [*bounds[1:], (n_samples, "")], strict=True)
        if end > start
    ]
    merged: list[tuple[int, int, str]] = []
    for seg in segments:
        if merged and merged[-1][2] == seg[2]:
            merged[-1] = (merged[-1][0], seg[1], seg[2])
        else:
            merged.append(seg)
    return merged


def _synthesize(
    text: str, settings: EspeakSettings, options: int
) -> tuple[np.ndarray, int, list[tuple[int, str]]]:
    if not text.strip():
        raise EmocircError(f"text {text!r}: expected some words to synthesise")
    with _lock:
        _unload()
        lib = _library(options)
        # The noise source (fricatives, breath) has its own generator; seed it too.
        lib.espeak_ng_SetRandSeed(0)
        if lib.espeak_SetVoiceByName(settings.voice.encode()) != _EE_OK:
            raise EmocircError(
                f"eSpeak voice {settings.voice!r}: not found; expected e.g. 'de+m3' or 'en-us+f2'"
            )
        for name, param in PARAMETERS.items():
            lib.espeak_SetParameter(param, int(getattr(settings, name)), 0)
        chunks: list[np.ndarray] = _state["chunks"]  # type: ignore[assignment]
        events: list[tuple[int, str]] = _state["events"]  # type: ignore[assignment]
        chunks.clear()
        events.clear()
        data = text.encode("utf-8")
        err = lib.espeak_Synth(data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        if err != _EE_OK:
            raise EmocircError(f"eSpeak failed (error {err}) on text {text!r}")
        wave = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
        found = list(events)
        chunks.clear()
        events.clear()
        return wave.astype(np.int16, copy=False), int(_state["rate"]), found  # type: ignore[call-overload]

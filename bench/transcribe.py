"""Transcription benchmark: the real-time factor (processing seconds / audio seconds) and the word error
rate of the local engine on real human speech as a telephone delivers it (Debian's pocketsphinx-testdata
LibriVox clips, band-limited to 300–3400 Hz, 8 kHz µ-law), and on the same clips at 16 kHz.

    .venv/bin/python bench/transcribe.py [--clips N]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=None, help="only the first N clips (a smoke run)")
    clips_wanted = parser.parse_args().clips
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "connective.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    import django

    django.setup()
    from recordings.engines import LocalWhisperEngine, whisper_model
    from tests.audio_helpers import LIBRIVOX, telephone_clips, word_error_rate

    started = time.monotonic()
    whisper_model()
    print(f"model loaded in {time.monotonic() - started:.2f} s")
    engine = LocalWhisperEngine()
    with tempfile.TemporaryDirectory() as folder:
        telephone = telephone_clips(Path(folder))[:clips_wanted]
        wideband = [(LIBRIVOX / path.name.replace("-8k-ulaw", ""), reference) for path, reference in telephone]
        engine.transcribe(str(telephone[0][0]))  # warm up
        for label, clips in (("8 kHz µ-law (telephone)", telephone), ("16 kHz PCM", wideband)):
            audio_seconds = sum(duration(path) for path, _ in clips)
            started = time.monotonic()
            hypotheses = [engine.transcribe(str(path)).text for path, _ in clips]
            seconds = time.monotonic() - started
            rate = word_error_rate([reference for _, reference in clips], hypotheses)
            print(
                f"{label:26} audio {audio_seconds:5.1f} s  processing {seconds:5.2f} s  "
                f"real-time factor {seconds / audio_seconds:.3f}  WER {rate:.1%}"
            )


def duration(path):
    import subprocess

    return float(subprocess.run(["soxi", "-D", str(path)], capture_output=True, text=True, check=True).stdout)


if __name__ == "__main__":
    main()

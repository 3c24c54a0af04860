"""Real audio for the recording and transcription tests: espeak-ng speech and Debian's pocketsphinx-testdata
(real human speech with reference transcripts), converted with sox to what telephones deliver."""

import re
import subprocess
from pathlib import Path

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")


def spoken(text, folder, name, rate=8000, kind="wav", words_per_minute=150):
    """espeak-ng speaking `text`, as a WAV or MP3 file at `rate` Hz."""
    raw = folder / f"{name}-raw.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", str(words_per_minute), "-w", str(raw), text], check=True)
    target = folder / f"{name}.{kind}"
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", str(target)], check=True)
    return target


def telephone_clips(folder):
    """The LibriVox clips as a telephone line delivers them: 300–3400 Hz, 8 kHz µ-law WAV; with references."""
    references = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        match = re.match(r"<s> (.*) </s> \((.*)\)", line)
        if match:
            references[match.group(2)] = match.group(1)
    clips = []
    for name, reference in sorted(references.items()):
        target = folder / f"{name}-8k-ulaw.wav"
        subprocess.run(
            ["sox", str(LIBRIVOX / f"{name}.wav"), "-r", "8000", "-e", "u-law", str(target), "sinc", "300-3400"],
            check=True,
        )
        clips.append((target, reference))
    return clips


def words(text):
    text = text.lower().replace("mr.", "mister").replace("mr ", "mister ")
    return re.sub(r"[^a-z0-9' ]+", " ", text).split()


def word_error_rate(references, hypotheses):
    """Word-level edit distance over all clips, divided by the number of reference words."""
    errors = total = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        ref, hyp = words(reference), words(hypothesis)
        previous = list(range(len(hyp) + 1))
        for i, ref_word in enumerate(ref, 1):
            current = [i]
            for j, hyp_word in enumerate(hyp, 1):
                current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref_word != hyp_word)))
            previous = current
        errors += previous[-1]
        total += len(ref)
    return errors / total

"""Is it audio? The formats telephony recordings come in, told by their first bytes, not their name."""

SIGNATURES = {
    "audio/wav": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WAVE",
    "audio/mpeg": lambda head: head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0),
    "audio/ogg": lambda head: head[:4] == b"OggS",
    "audio/mp4": lambda head: head[4:8] == b"ftyp",
}
EXTENSIONS = {"audio/wav": "wav", "audio/mpeg": "mp3", "audio/ogg": "ogg", "audio/mp4": "m4a"}
DECLARED_AUDIO = ("audio/", "application/octet-stream", "binary/octet-stream", "video/mp4", "application/ogg")


def sniff(head):
    """The audio type of a file from its first bytes, or None."""
    for content_type, matches in SIGNATURES.items():
        if matches(head):
            return content_type
    return None


def declared_as_audio(content_type):
    media_type = (content_type or "").split(";")[0].strip().lower()
    return not media_type or media_type.startswith(DECLARED_AUDIO)

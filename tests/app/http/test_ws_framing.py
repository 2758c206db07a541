"""The frames ``FramingProtocol`` writes itself are what the websockets library reads back, at
every length encoding, and a live server uses that path."""

from __future__ import annotations

from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from app.serving import FramingProtocol, text_frame, uvicorn_options


def read_frame(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False, max_size=None)
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


def test_text_frames_of_every_length_encoding_read_back_exactly() -> None:
    for size in (0, 1, 125, 126, 127, 65_535, 65_536, 300_000):
        payload = b"a" * size
        data = text_frame(payload)
        frame = read_frame(data)
        assert frame.opcode is Opcode.TEXT
        assert frame.fin and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
        assert bytes(frame.data) == payload
        assert len(data) == len(payload) + (2 if size < 126 else 4 if size < 65_536 else 10)


def test_the_server_runs_the_framing_protocol() -> None:
    assert uvicorn_options()["ws"] is FramingProtocol
    assert uvicorn_options()["ws_per_message_deflate"] is False

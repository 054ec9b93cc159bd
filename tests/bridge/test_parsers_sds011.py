"""SDS011 frames: the datasheet's example, resynchronisation on noise, and no input that raises."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from iot_monitor_bridge.parsers.sds011 import Sds011Decoder, Sds011Frame, checksum
from tests.support.fake_serial import sds011_frame
from tests.support.streams import PROPERTY_SETTINGS, chunked, feed_all, mangled, noise

DATASHEET_FRAME = bytes.fromhex("aa c0 d4 04 3a 0a a1 60 1d ab")
"""The example in the SDS011 control protocol: PM2.5 123.6, PM10 261.8, device id A160."""

pm_values = st.integers(0, 9999).map(lambda tenths: tenths / 10)
frames = st.lists(
    st.builds(Sds011Frame, pm_values, pm_values, st.integers(0, 0xFFFF)), min_size=1, max_size=8
)


def encode(frame: Sds011Frame) -> bytes:
    return sds011_frame(frame.pm25, frame.pm10, frame.device_id)


def test_datasheet_frame() -> None:
    assert checksum(DATASHEET_FRAME) == 0x1D
    decoded = Sds011Decoder().feed(DATASHEET_FRAME)
    assert decoded.frames == [Sds011Frame(pm25=123.6, pm10=261.8, device_id=0xA160)]
    assert (decoded.bad_checksums, decoded.garbage_bytes, decoded.faults) == (0, 0, [])


def test_fake_device_frames_match_the_datasheet() -> None:
    assert sds011_frame(123.6, 261.8, 0xA160) == DATASHEET_FRAME


def test_frame_split_byte_by_byte_is_reassembled() -> None:
    decoder = Sds011Decoder()
    results = [decoder.feed(DATASHEET_FRAME[i : i + 1]) for i in range(len(DATASHEET_FRAME))]
    assert [frame for result in results[:-1] for frame in result.frames] == []
    assert results[-1].frames[0].pm25 == 123.6
    assert sum(result.garbage_bytes for result in results) == 0


def test_bad_checksum_is_counted_and_the_next_frame_decoded() -> None:
    stream = sds011_frame(1.0, 2.0, bad_checksum=True) + sds011_frame(3.0, 4.0)
    decoded = Sds011Decoder().feed(stream)
    assert [(f.pm25, f.pm10) for f in decoded.frames] == [(3.0, 4.0)]
    assert (decoded.bad_checksums, decoded.garbage_bytes) == (1, 0)
    assert [fault.kind for fault in decoded.faults] == ["bad_checksum"]


def test_garbage_around_frames_is_counted_exactly() -> None:
    stream = b"\x00\x11" + sds011_frame(5.5, 6.6) + b"\xab\xc0\x42" + sds011_frame(7.7, 8.8)
    decoded = Sds011Decoder().feed(stream)
    assert [(f.pm25, f.pm10) for f in decoded.frames] == [(5.5, 6.6), (7.7, 8.8)]
    assert (decoded.bad_checksums, decoded.garbage_bytes) == (0, 5)
    assert [fault.kind for fault in decoded.faults] == ["garbage"]


def test_truncated_frame_does_not_swallow_the_next_one() -> None:
    stream = sds011_frame(1.0, 1.0)[:6] + sds011_frame(9.9, 10.1)
    decoded = Sds011Decoder().feed(stream)
    assert [(f.pm25, f.pm10) for f in decoded.frames] == [(9.9, 10.1)]
    assert decoded.garbage_bytes == 6


def test_cut_frame_whose_tenth_byte_looks_like_a_trailer_resumes_at_the_next_header() -> None:
    # A frame cut after 7 bytes, then a good frame whose PM2.5 low byte is 171 = 0xAB: the
    # candidate at 0 has a trailer in place but fails its checksum; decoding resumes inside it.
    good = sds011_frame(17.1, 3.0)
    stream = sds011_frame(1.0, 2.0)[:7] + good
    assert stream[9] == 0xAB
    decoded = Sds011Decoder().feed(stream)
    assert [(f.pm25, f.pm10) for f in decoded.frames] == [(17.1, 3.0)]
    assert decoded.bad_checksums == 1


def test_wrong_trailer_is_not_a_frame() -> None:
    frame = bytearray(sds011_frame(1.0, 2.0))
    frame[9] = 0x00
    decoded = Sds011Decoder().feed(bytes(frame))
    assert decoded.frames == []
    assert decoded.garbage_bytes == 10


def test_header_split_between_reads() -> None:
    decoder = Sds011Decoder()
    first = decoder.feed(b"\x01\xaa")
    second = decoder.feed(sds011_frame(2.5, 10.0)[1:])
    assert (first.frames, first.garbage_bytes) == ([], 1)
    assert [(f.pm25, f.pm10) for f in second.frames] == [(2.5, 10.0)]
    assert second.garbage_bytes == 0


@PROPERTY_SETTINGS
@given(st.data(), frames)
def test_frames_split_anywhere_decode_unchanged(
    data: st.DataObject, sent: list[Sds011Frame]
) -> None:
    stream = b"".join(encode(frame) for frame in sent)
    decoded = feed_all(Sds011Decoder(), data.draw(chunked(stream)))
    assert decoded.frames == sent
    assert (decoded.bad_checksums, decoded.garbage_bytes) == (0, 0)


@PROPERTY_SETTINGS
@given(st.data(), st.binary(max_size=50).map(lambda b: b.replace(b"\xaa", b"")), frames)
def test_leading_garbage_is_counted_and_skipped(
    data: st.DataObject, garbage: bytes, sent: list[Sds011Frame]
) -> None:
    stream = garbage + b"".join(encode(frame) for frame in sent)
    decoded = feed_all(Sds011Decoder(), data.draw(chunked(stream)))
    assert decoded.frames == sent
    assert decoded.garbage_bytes == len(garbage)


@PROPERTY_SETTINGS
@given(st.data(), noise(b"\xaa\xc0\xab"))
def test_random_bytes_never_raise(data: st.DataObject, stream: bytes) -> None:
    decoded = feed_all(Sds011Decoder(), data.draw(chunked(stream)))
    assert decoded.garbage_bytes + 10 * len(decoded.frames) <= len(stream)


@PROPERTY_SETTINGS
@given(st.data(), frames)
def test_mangled_frames_never_raise(data: st.DataObject, sent: list[Sds011Frame]) -> None:
    stream = data.draw(mangled(b"".join(encode(frame) for frame in sent)))
    decoded = feed_all(Sds011Decoder(), data.draw(chunked(stream)))
    for frame in decoded.frames:  # whatever came through passed its checksum and is in range
        assert 0 <= frame.pm25 <= 6553.5
        assert 0 <= frame.pm10 <= 6553.5
    assert len(decoded.frames) <= len(stream) // 10

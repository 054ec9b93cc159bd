"""MH-Z19B packets: the read command, responses, resynchronisation, and no input that raises."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from iot_monitor_bridge.parsers.mhz19 import READ_COMMAND, Mhz19bDecoder, Mhz19bResponse, checksum
from tests.support.fake_serial import MHZ19B_READ_COMMAND, mhz19b_response
from tests.support.streams import PROPERTY_SETTINGS, chunked, feed_all, mangled, noise

RESPONSE_608_PPM = bytes.fromhex("ff 86 02 60 47 00 00 00 d1")
"""A response laid out as in the datasheet: 0x0260 = 608 ppm, temperature byte 0x47 (31 °C)."""

ppm_values = st.integers(0, 10_000)


def test_read_command_is_the_datasheets() -> None:
    assert READ_COMMAND == MHZ19B_READ_COMMAND == bytes.fromhex("ff0186000000000079")
    assert checksum(READ_COMMAND) == 0x79


def test_response_decodes() -> None:
    assert checksum(RESPONSE_608_PPM) == 0xD1
    decoded = Mhz19bDecoder().feed(RESPONSE_608_PPM)
    assert decoded.frames == [Mhz19bResponse(co2_ppm=608)]
    assert decoded.faults == []


def test_fake_device_responses_match_the_datasheet_layout() -> None:
    assert mhz19b_response(608, temperature_c=31) == RESPONSE_608_PPM


def test_bad_checksum_is_counted() -> None:
    decoded = Mhz19bDecoder().feed(mhz19b_response(800, bad_checksum=True) + mhz19b_response(801))
    assert decoded.frames == [Mhz19bResponse(801)]
    assert (decoded.bad_checksums, decoded.garbage_bytes) == (1, 0)


def test_response_cut_short_does_not_swallow_the_next_one() -> None:
    # No trailer: the cut response and the start of the next fill a candidate whose checksum
    # fails, and decoding resumes at the header inside it.
    stream = mhz19b_response(400)[:4] + mhz19b_response(1234)
    decoded = Mhz19bDecoder().feed(stream)
    assert decoded.frames == [Mhz19bResponse(1234)]
    assert decoded.bad_checksums == 1


def test_response_split_across_reads_with_noise_before() -> None:
    decoder = Mhz19bDecoder()
    first = decoder.feed(b"\x00\x86\xff")
    second = decoder.feed(mhz19b_response(5000)[1:5])
    third = decoder.feed(mhz19b_response(5000)[5:])
    assert (first.frames, first.garbage_bytes) == ([], 2)
    assert (second.frames, second.garbage_bytes) == ([], 0)
    assert third.frames == [Mhz19bResponse(5000)]


@PROPERTY_SETTINGS
@given(st.data(), st.lists(ppm_values, min_size=1, max_size=8))
def test_responses_split_anywhere_decode_unchanged(data: st.DataObject, sent: list[int]) -> None:
    stream = b"".join(mhz19b_response(ppm) for ppm in sent)
    decoded = feed_all(Mhz19bDecoder(), data.draw(chunked(stream)))
    assert [frame.co2_ppm for frame in decoded.frames] == sent
    assert (decoded.bad_checksums, decoded.garbage_bytes) == (0, 0)


@PROPERTY_SETTINGS
@given(st.data(), noise(b"\xff\x86"))
def test_random_bytes_never_raise(data: st.DataObject, stream: bytes) -> None:
    decoded = feed_all(Mhz19bDecoder(), data.draw(chunked(stream)))
    assert decoded.garbage_bytes + 9 * len(decoded.frames) <= len(stream)


@PROPERTY_SETTINGS
@given(st.data(), st.lists(ppm_values, min_size=1, max_size=8))
def test_mangled_responses_never_raise(data: st.DataObject, sent: list[int]) -> None:
    stream = data.draw(mangled(b"".join(mhz19b_response(ppm) for ppm in sent)))
    decoded = feed_all(Mhz19bDecoder(), data.draw(chunked(stream)))
    assert all(0 <= frame.co2_ppm <= 0xFFFF for frame in decoded.frames)
    assert len(decoded.frames) <= len(stream) // 9

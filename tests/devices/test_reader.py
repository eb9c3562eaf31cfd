"""The card reader's rules (devices.reader), byte for byte: each frame kind read as
exactly one card, split at every offset; bad LRCs, checksums, noise and cut frames
counted and never read; a card held on an RFID reader or swiped on both tracks read
once. Then the driver over a real pty pair, loop:// and a TCP socket that goes away
and comes back."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from devices.reader import MAX_FRAME_BYTES, CardRead, CardReader, FrameParser, lrc, rfid_checksum
from devices.virtual import VirtualReader, socket_swipe, swipe_frame

PAN = "6012345678901234"
TRACK2 = b";6012345678901234=4912101?"
TRACK1 = b"%B6012345678901234^WANG/XIAOMING  ^4912101?"
# 0x0A ^ 0x1B ^ 0x2C ^ 0x3D ^ 0x4E = 0x4E
RFID = b"\x020A1B2C3D4E4E\x03"
LINE = b"C-5001\r\n"

WAIT_S = 3.0  # every wait below is bounded by this


def feed_all(parser: FrameParser, *chunks: bytes, now_ms: int = 0) -> list[CardRead]:
    return [read for chunk in chunks for read in parser.feed(chunk, now_ms)]


# -- each frame kind ----------------------------------------------------------------------


def test_track2_is_the_pan_before_the_separator_and_a_trailing_cr_lf_is_ignored() -> None:
    parser = FrameParser()
    assert parser.feed(TRACK2 + b"\r\n", 0) == [CardRead(PAN, "track2")]
    assert parser.bad_frames == 0


def test_a_track2_with_no_separator_is_all_card_number() -> None:
    assert FrameParser().feed(b";20240001?", 0) == [CardRead("20240001", "track2")]


def test_track1_gives_the_pan_and_the_name_stripped_as_sent() -> None:
    parser = FrameParser("magstripe")
    assert parser.feed(TRACK1, 0) == [CardRead(PAN, "track1", "WANG/XIAOMING")]
    assert parser.bad_frames == 0


def test_a_blank_track1_name_is_none() -> None:
    assert FrameParser().feed(b"%B12345678^  ^49?", 0) == [CardRead("12345678", "track1", None)]


def test_an_rfid_frame_is_its_ten_hex_characters_upper_case() -> None:
    assert rfid_checksum("0A1B2C3D4E") == 0x4E
    parser = FrameParser("rfid")
    assert parser.feed(b"\x020a1b2c3d4e4e\x03", 0) == [CardRead("0A1B2C3D4E", "rfid")]
    assert parser.bad_frames == 0


def test_an_rfid_frame_with_cr_lf_around_and_before_its_etx_reads() -> None:
    # ID-12 readers send STX, the twelve characters, CR LF, ETX.
    parser = FrameParser()
    assert parser.feed(b"\r\n\x020A1B2C3D4E4E\r\n\x03\r\n", 0) == [CardRead("0A1B2C3D4E", "rfid")]
    assert parser.bad_frames == 0


def test_a_line_reader_gives_each_line_that_keeps_the_card_rule() -> None:
    parser = FrameParser("line")
    assert feed_all(parser, b"C-5001\r", b"\nabcd\n") == [
        CardRead("C-5001", "line"),
        CardRead("abcd", "line"),
    ]
    assert parser.bad_frames == 0


def test_a_line_that_breaks_the_card_rule_is_a_bad_frame() -> None:
    parser = FrameParser("line")
    # too short; a space; 41 characters; `;` is a byte of a line for a line reader
    assert feed_all(parser, b"abc\r\n", b"C 5001\r\n", b"1" * 41 + b"\n", b";1234=?\n") == []
    assert parser.bad_frames == 4


def test_auto_tells_the_kinds_apart_by_their_first_byte() -> None:
    reads = feed_all(FrameParser(), TRACK2, b"\r\n", RFID, LINE, b"%B12345678^LI/LEI^?")
    assert reads == [
        CardRead(PAN, "track2"),
        CardRead("0A1B2C3D4E", "rfid"),
        CardRead("C-5001", "line"),
        CardRead("12345678", "track1", "LI/LEI"),
    ]


# -- the LRC ------------------------------------------------------------------------------


def test_the_lrc_is_the_xor_of_every_byte_from_start_to_end_sentinel() -> None:
    # 3B^31^32^33^34^3D^3F = 3D, which is `=`
    assert lrc(b";1234=?") == 0x3D
    parser = FrameParser(lrc=True)
    assert parser.feed(b";1234=?=\r\n", 0) == [CardRead("1234", "track2")]
    assert parser.bad_frames == 0


def test_a_bad_lrc_is_one_bad_frame_and_no_read() -> None:
    parser = FrameParser(lrc=True)
    assert parser.feed(b";1234=?>\r\n", 0) == []
    assert parser.bad_frames == 1


def test_the_lrc_is_taken_by_position_even_when_it_is_a_line_end_or_a_start_sentinel() -> None:
    assert lrc(b";1048=4912101?") == 0x0A  # LF
    assert lrc(b";10049=4912101?") == 0x3B  # `;`
    parser = FrameParser(lrc=True)
    reads = feed_all(parser, b";1048=4912101?\n", b";10049=4912101?;")
    assert reads == [CardRead("1048", "track2"), CardRead("10049", "track2")]
    assert parser.bad_frames == 0


def test_swipe_frame_makes_the_exact_bytes_of_each_kind() -> None:
    assert swipe_frame(PAN) == TRACK2
    assert swipe_frame("1234", lrc=True) == b";1234=4912101?\x03"
    assert swipe_frame(PAN, "track1", name="WANG/XIAOMING") == b"%B6012345678901234^WANG/XIAOMING^4912101?"
    assert swipe_frame(PAN, "track1") == b"%B6012345678901234^MEMBER/BRANCHLINE^4912101?"
    assert swipe_frame("0a1b2c3d4e", "rfid") == RFID
    assert swipe_frame("C-5001", "line") == LINE


@pytest.mark.parametrize(
    ("card", "kind", "name", "lrc"),
    [
        ("C-5001", "track2", None, False),  # track 2 carries digits only
        ("123", "track2", None, False),
        ("12345678901234567890", "track1", None, False),  # a PAN is at most 19 digits
        (PAN, "track1", "wang/xiaoming", False),  # track 1 has no lower case
        ("0A1B2C3D4", "rfid", None, False),
        ("0A1B2C3D4E", "rfid", None, True),
        ("C 5001", "line", None, False),
        (PAN, "track3", None, False),
    ],
)
def test_swipe_frame_refuses_a_card_its_kind_cannot_carry(
    card: str, kind: str, name: str | None, lrc: bool
) -> None:
    with pytest.raises(ValueError, match=r"."):
        swipe_frame(card, kind, name=name, lrc=lrc)


# -- split anywhere -----------------------------------------------------------------------

SPLIT_CASES = [
    ("auto", False, TRACK2 + b"\r\n", CardRead(PAN, "track2")),
    ("auto", True, swipe_frame(PAN, lrc=True) + b"\r\n", CardRead(PAN, "track2")),
    (
        "magstripe",
        True,
        swipe_frame(PAN, "track1", name="WANG/XIAOMING", lrc=True),
        CardRead(PAN, "track1", "WANG/XIAOMING"),
    ),
    ("auto", False, RFID, CardRead("0A1B2C3D4E", "rfid")),
    ("rfid", False, b"\x020A1B2C3D4E4E\r\n\x03", CardRead("0A1B2C3D4E", "rfid")),
    ("auto", False, LINE, CardRead("C-5001", "line")),
]


@pytest.mark.parametrize(("kind", "with_lrc", "frame", "read"), SPLIT_CASES)
def test_a_frame_split_in_two_at_every_offset_is_read_once(
    kind: str, with_lrc: bool, frame: bytes, read: CardRead
) -> None:
    for offset in range(1, len(frame)):
        parser = FrameParser(kind, lrc=with_lrc)
        assert feed_all(parser, frame[:offset], frame[offset:]) == [read], f"split at {offset}"
        assert parser.bad_frames == 0, f"split at {offset}"


@pytest.mark.parametrize(("kind", "with_lrc", "frame", "read"), SPLIT_CASES)
def test_a_frame_fed_byte_by_byte_is_read_once(
    kind: str, with_lrc: bool, frame: bytes, read: CardRead
) -> None:
    parser = FrameParser(kind, lrc=with_lrc)
    reads = feed_all(parser, *(frame[i : i + 1] for i in range(len(frame))))
    assert reads == [read]
    assert parser.bad_frames == 0


def test_a_partial_frame_waits_for_its_end_however_late() -> None:
    parser = FrameParser()
    assert parser.feed(b";60123", 0) == []
    assert parser.feed(b"45678901234=4912101", 60_000) == []
    assert parser.feed(b"?", 120_000) == [CardRead(PAN, "track2")]
    assert parser.bad_frames == 0


# -- noise, cut frames, runaways ----------------------------------------------------------


def test_garbage_before_between_and_after_frames_is_counted_once_per_run() -> None:
    parser = FrameParser()
    reads = feed_all(
        parser,
        b"\x00\xff",  # noise, ended by the next start sentinel: 1
        TRACK2,
        b"xx\r\n",  # a line that is no card: 2
        RFID,
        b"zz",  # waits: it may yet become a line
    )
    assert reads == [CardRead(PAN, "track2"), CardRead("0A1B2C3D4E", "rfid")]
    assert parser.bad_frames == 2
    assert parser.feed(b"\r\n", 0) == []
    assert parser.bad_frames == 3


def test_lone_line_ends_count_for_nothing() -> None:
    parser = FrameParser()
    assert parser.feed(b"\r\n\n\r\r\n", 0) == []
    assert parser.bad_frames == 0


def test_a_magstripe_reader_counts_a_plain_line_as_noise() -> None:
    parser = FrameParser("magstripe")
    assert feed_all(parser, b"12345678\r\n", RFID, TRACK2) == [CardRead(PAN, "track2")]
    # the line; the RFID frame is noise to a magstripe reader, ended by `;`
    assert parser.bad_frames == 2


def test_a_new_start_sentinel_abandons_the_partial_frame_before_it() -> None:
    parser = FrameParser()
    assert feed_all(parser, b";601234", TRACK2) == [CardRead(PAN, "track2")]
    assert parser.bad_frames == 1


def test_a_truncated_track1_then_a_good_track2_reads_track2() -> None:
    parser = FrameParser()
    assert feed_all(parser, b"%B6012345678901234^WANG", TRACK2) == [CardRead(PAN, "track2")]
    assert parser.bad_frames == 1


def test_a_line_end_inside_a_magstripe_frame_breaks_it() -> None:
    parser = FrameParser()
    assert feed_all(parser, b";601234\r\n", b"=4912101?\r\n") == []
    # the cut track; then `=4912101?` is a line that is no card
    assert parser.bad_frames == 2


@pytest.mark.parametrize(
    "frame",
    [
        b";12a4=?",  # a letter in track 2
        b";123=?",  # a PAN of 3 digits
        b"%A6012345678901234^WANG/XIAOMING^49?",  # format code A
        b"%B6012345678901234^WANG^",  # cut by the next frame's start, below
        b"\x020A1B2C3D4E4F\x03",  # checksum 4F, not 4E
        b"\x020A1B2C3D4\x03",  # nine characters
    ],
)
def test_a_malformed_frame_is_one_bad_frame_and_the_next_frame_still_reads(frame: bytes) -> None:
    parser = FrameParser()
    assert feed_all(parser, frame, b";1234?") == [CardRead("1234", "track2")]
    assert parser.bad_frames == 1


def test_a_bad_rfid_checksum_is_a_bad_frame() -> None:
    parser = FrameParser("rfid")
    assert parser.feed(b"\x020A1B2C3D4E00\x03", 0) == []
    assert parser.bad_frames == 1


def test_a_frame_that_runs_past_the_bound_is_one_bad_frame_and_the_parser_resyncs() -> None:
    parser = FrameParser()
    runaway = b";" + b"1" * 300 + b"?"
    assert feed_all(parser, runaway[:100], runaway[100:], TRACK2) == [CardRead(PAN, "track2")]
    assert parser.bad_frames == 1
    assert len(parser._buffer) == 0


def test_noise_without_a_line_end_is_bounded_and_counted_once() -> None:
    parser = FrameParser()
    assert parser.feed(b"x" * (MAX_FRAME_BYTES - 1), 0) == []
    assert parser.bad_frames == 0
    assert feed_all(parser, b"x" * 1000, b"\r\n" + LINE) == [CardRead("C-5001", "line")]
    assert parser.bad_frames == 1
    # All in one piece: the runaway, its end and the next card.
    assert parser.feed(b"y" * 200 + b"\r\n" + LINE, 0) == []  # the same card, within the debounce
    assert parser.bad_frames == 2


def test_an_unknown_reader_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="is not one of auto, magstripe, rfid, line"):
        FrameParser("barcode")


def test_each_bad_frame_is_logged_with_why_and_never_its_bytes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="devices.reader"):
        FrameParser(lrc=True).feed(b";1234=?>", 0)
    assert [r.getMessage() for r in caplog.records] == [
        "card reader: bad frame of 8 bytes dropped: a track2 frame's LRC does not match"
    ]


# -- presentations ------------------------------------------------------------------------


def test_track1_then_track2_of_one_swipe_is_one_read() -> None:
    parser = FrameParser()
    assert parser.feed(TRACK1 + b"\r\n" + TRACK2 + b"\r\n", 0) == [CardRead(PAN, "track1", "WANG/XIAOMING")]
    assert parser.bad_frames == 0


def test_two_different_cards_back_to_back_are_two_reads() -> None:
    assert FrameParser().feed(TRACK2 + b";1234?", 0) == [CardRead(PAN, "track2"), CardRead("1234", "track2")]


def test_a_double_swipe_within_the_debounce_is_one_read() -> None:
    parser = FrameParser(debounce_ms=1500)
    assert parser.feed(TRACK2, 10_000) == [CardRead(PAN, "track2")]
    assert parser.feed(TRACK2, 10_900) == []


def test_an_rfid_card_held_two_seconds_is_one_read_and_presented_again_is_another() -> None:
    parser = FrameParser(debounce_ms=1500)
    held = [read for now_ms in range(0, 2001, 100) for read in parser.feed(RFID, now_ms)]
    assert held == [CardRead("0A1B2C3D4E", "rfid")]
    # The hold ended at 2000: a frame at 3499 still belongs to it, and extends it.
    assert parser.feed(RFID, 3499) == []
    assert parser.feed(RFID, 4999) == [CardRead("0A1B2C3D4E", "rfid")]
    assert parser.bad_frames == 0


def test_the_same_card_after_another_card_is_a_new_presentation() -> None:
    parser = FrameParser()
    reads = [parser.feed(frame, now_ms) for frame, now_ms in [(TRACK2, 0), (RFID, 100), (TRACK2, 200)]]
    assert reads == [[CardRead(PAN, "track2")], [CardRead("0A1B2C3D4E", "rfid")], [CardRead(PAN, "track2")]]


def test_a_clock_that_steps_back_starts_a_new_presentation() -> None:
    parser = FrameParser()
    assert parser.feed(RFID, 50_000) != []
    assert parser.feed(RFID, 49_000) == [CardRead("0A1B2C3D4E", "rfid")]


def test_a_bad_frame_between_repeats_does_not_end_the_hold() -> None:
    parser = FrameParser()
    assert feed_all(parser, RFID, b"\x020A1B2C3D4E00\x03", RFID) == [CardRead("0A1B2C3D4E", "rfid")]
    assert parser.bad_frames == 1


# -- the driver on real ports -------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Poll a driver's state until `condition` holds; fail naming `what` after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while True:
        if condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}")
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def running(reader: CardReader) -> AsyncIterator[asyncio.Queue[CardRead]]:
    reads: asyncio.Queue[CardRead] = asyncio.Queue()
    task = asyncio.create_task(reader.run(reads.put_nowait))
    try:
        yield reads
    finally:
        await asyncio.wait_for(reader.close(), WAIT_S)
        await asyncio.wait_for(task, WAIT_S)


async def next_read(reads: asyncio.Queue[CardRead]) -> CardRead:
    return await asyncio.wait_for(reads.get(), WAIT_S)


async def test_a_swipe_on_a_virtual_reader_is_one_read_by_the_card_reader_on_its_pty() -> None:
    with VirtualReader.create() as virtual:
        reader = CardReader(virtual.path)
        async with running(reader) as reads:
            await wait_until(lambda: reader.state()["state"] == "ready", "the pty to open")
            virtual.swipe(PAN, "track1", name="WANG/XIAOMING")
            virtual.swipe(PAN)  # track 2 of the same swipe
            virtual.send(b"#~\r\n")  # a line that is no card
            virtual.swipe("0A1B2C3D4E", "rfid")
            assert await next_read(reads) == CardRead(PAN, "track1", "WANG/XIAOMING")
            # The next read is the RFID card: track 2 of the swipe made none.
            assert await next_read(reads) == CardRead("0A1B2C3D4E", "rfid")
            state = reader.state()
            assert (state["state"], state["reads"], state["bad_frames"], state["reopened"]) == (
                "ready",
                2,
                1,
                0,
            )
        assert reader.state()["state"] == "closed"
        assert reader.port is None


async def test_the_card_reader_reads_a_swipe_over_loop() -> None:
    reader = CardReader("loop://", kind="magstripe", lrc=True)
    async with running(reader) as reads:
        await wait_until(lambda: reader.port is not None, "loop:// to open")
        reader.port.write(b"\x00" + swipe_frame(PAN, lrc=True) + b"\r\n")
        assert await next_read(reads) == CardRead(PAN, "track2")
        reader.port.write(b";1234=?>")  # a bad LRC
        await wait_until(lambda: reader.state()["bad_frames"] == 2, "the bad frame to count")
        assert reader.state()["reads"] == 1
    assert reads.empty()


async def test_the_card_reader_goes_reconnecting_when_its_reader_is_unplugged() -> None:
    virtual = VirtualReader.create()
    reader = CardReader(virtual.path)
    async with running(reader):
        await wait_until(lambda: reader.state()["state"] == "ready", "the pty to open")
        virtual.close()
        await wait_until(lambda: reader.state()["state"] == "reconnecting", "the unplug to be seen")
        assert "next try in" in reader.state()["detail"]


async def test_a_reader_whose_port_goes_away_is_reopened_and_reads_again() -> None:
    connections: list[asyncio.StreamWriter] = []

    async def accept(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader = CardReader(f"socket://127.0.0.1:{port}")
    states: list[str] = []
    async with running(reader) as reads:
        await wait_until(
            lambda: reader.state()["state"] == "ready" and len(connections) == 1, "the connection"
        )
        connections[0].write(swipe_frame("1111222233334444"))
        assert await next_read(reads) == CardRead("1111222233334444", "track2")
        # The reader goes away: the server stops and drops the connection.
        server.close()
        connections[0].close()
        await server.wait_closed()
        await wait_until(lambda: reader.state()["state"] == "reconnecting", "the drop to be seen")
        states.append(reader.state()["state"])
        server = await asyncio.start_server(accept, "127.0.0.1", port)
        try:
            await wait_until(
                lambda: reader.state()["state"] == "ready" and len(connections) == 2, "the reopen"
            )
            connections[1].write(swipe_frame("5555666677778888"))
            assert await next_read(reads) == CardRead("5555666677778888", "track2")
            state = reader.state()
            assert (state["reopened"], state["reads"], state["detail"]) == (1, 2, None)
        finally:
            connections[1].close()
            server.close()
            await server.wait_closed()
    assert states == ["reconnecting"]


async def test_a_port_that_cannot_open_is_retried_with_backoff_until_closed(tmp_path: Path) -> None:
    reader = CardReader(str(tmp_path / "ttyUSB9"))
    async with running(reader):
        await wait_until(lambda: "next try in 0.4 s" in (reader.state()["detail"] or ""), "three tries")
        assert reader.state()["state"] == "reconnecting"
        assert "ttyUSB9" in reader.state()["detail"]
    assert reader.state() | {"since_ms": 0} == {
        "kind": "reader",
        "url": str(tmp_path / "ttyUSB9"),
        "state": "closed",
        "detail": None,
        "since_ms": 0,
        "reads": 0,
        "bad_frames": 0,
        "reopened": 0,
    }


async def test_an_error_in_on_card_stops_the_reader_loudly() -> None:
    def refuse(read: CardRead) -> None:
        raise LookupError(f"no member has card {read.card}")

    reader = CardReader("loop://")
    task = asyncio.create_task(reader.run(refuse))
    await wait_until(lambda: reader.port is not None, "loop:// to open")
    reader.port.write(b";1234?")
    with pytest.raises(LookupError, match="no member has card 1234"):
        await asyncio.wait_for(task, WAIT_S)
    assert reader.state()["state"] == "closed"
    assert "LookupError" in reader.state()["detail"]


async def test_a_cancelled_reader_closes_its_port_and_says_why() -> None:
    reader = CardReader("loop://")
    task = asyncio.create_task(reader.run(lambda read: None))
    await wait_until(lambda: reader.port is not None, "loop:// to open")
    port = reader.port
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_S)
    assert not port.is_open
    assert (reader.state()["state"], reader.state()["detail"]) == ("closed", "stopped: CancelledError()")


async def test_a_url_pyserial_does_not_know_is_refused_not_retried() -> None:
    reader = CardReader("usb-reader://till-1")
    with pytest.raises(ValueError, match="invalid URL"):
        await asyncio.wait_for(reader.run(lambda read: None), WAIT_S)
    assert reader.state()["state"] == "closed"


# -- the virtual reader's socket ----------------------------------------------------------


async def test_a_card_sent_to_the_virtual_readers_socket_is_swiped(tmp_path: Path) -> None:
    socket_path = tmp_path / "reader.sock"
    with VirtualReader.create() as virtual:
        virtual.serve_socket(socket_path)
        reader = CardReader(virtual.path)
        async with running(reader) as reads:
            await wait_until(lambda: reader.state()["state"] == "ready", "the pty to open")
            assert await asyncio.to_thread(socket_swipe, socket_path, PAN) == "ok"
            assert await next_read(reads) == CardRead(PAN, "track2")
            assert await asyncio.to_thread(socket_swipe, socket_path, "C-5001") == "ok"
            assert await next_read(reads) == CardRead("C-5001", "line")
            refused = await asyncio.to_thread(socket_swipe, socket_path, "C 5001")
            assert refused == "error: a card number is 4 to 40 letters, digits or dashes"
            assert reader.state()["bad_frames"] == 0
    assert not socket_path.exists()


def test_a_stale_socket_file_is_replaced_and_a_file_that_is_no_socket_is_refused(tmp_path: Path) -> None:
    stale = tmp_path / "reader.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(stale))  # a node that died left its socket file behind
    with VirtualReader.create() as virtual:
        virtual.serve_socket(stale)
        assert socket_swipe(stale, "1234") == "ok"
    notes = tmp_path / "notes.sock"
    notes.write_text("not a socket")
    with (
        VirtualReader.create() as virtual,
        pytest.raises(FileExistsError, match="exists and is not a socket"),
    ):
        virtual.serve_socket(notes)
    assert notes.read_text() == "not a socket"

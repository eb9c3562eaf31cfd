"""ESC/POS byte for byte (devices.escpos, devices.escpos_decode): a small receipt is
exactly the bytes written out below; each status condition, garbage and a missing
answer read as the rules say (no answer is never "ready"); the interpreter reads
python-escpos's output (an independent writer) and our own back into the same
document, skips an image's bytes by their length, and splits a stream into status
queries and jobs the same at every byte offset."""

from __future__ import annotations

import re

import pytest
from escpos.printer import Dummy
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from devices.document import ALIGNS, Barcode, Document, Line, QRCode
from devices.escpos import (
    STATUS_QUERIES,
    DocumentNotPrintable,
    PrinterStatus,
    encode,
    parse_status,
    status_answers,
)
from devices.escpos_decode import decode
from devices.escpos_framing import JobSplitter

PROPERTY = settings(max_examples=150, deadline=None)

# -- encode ------------------------------------------------------------------------------

SMALL = Document(
    (
        Line("茶铺", bold=True, double=True, align="center"),
        Line("Total 12.50", align="right"),
        QRCode("SALE-1"),
        Barcode("SALE1"),
    ),
    kick_drawer=True,
)
SMALL_BYTES = (
    b"\x1b@"  # ESC @: initialise
    b"\x1bp\x00\x19\xfa"  # ESC p 0 25 250: drawer pulse on pin 2, 50 ms on, 500 ms off
    b"\x1c&"  # FS &: Chinese mode (the title is Chinese)
    b"\x1bE\x01"  # ESC E 1: bold
    b"\x1d!\x11"  # GS ! 0x11: double width and height
    b"\x1ba\x01"  # ESC a 1: centred
    b"\xb2\xe8\xc6\xcc\n"  # 茶铺 in GB18030 (B2E8 C6CC), LF
    b"\x1bE\x00"  # ESC E 0: bold off
    b"\x1d!\x00"  # GS ! 0: normal size
    b"\x1ba\x02"  # ESC a 2: right
    b"Total 12.50\n"
    b"\x1ba\x01"  # ESC a 1: the QR code centred
    b"\x1d(k\x04\x00\x31\x41\x32\x00"  # GS ( k: fn 65 model 2
    b"\x1d(k\x03\x00\x31\x43\x06"  # fn 67: modules 6 dots (80 mm paper)
    b"\x1d(k\x03\x00\x31\x45\x31"  # fn 69: error correction M (49)
    b"\x1d(k\x09\x00\x31\x50\x30SALE-1"  # fn 80: store 6 bytes (pL = 6 + 3)
    b"\x1d(k\x03\x00\x31\x51\x30"  # fn 81: print the symbol
    b"\x1dh\x50"  # GS h 80: bars 80 dots high
    b"\x1dw\x02"  # GS w 2: 2-dot modules (11 * (5 + 3) + 2 = 90 modules, 180 dots, fit 576)
    b"\x1dH\x02"  # GS H 2: the data printed under the bars
    b"\x1dkI\x07{BSALE1"  # GS k 73 7: CODE128, "{B" (code set B) and SALE1
    b"\x1bd\x03"  # ESC d 3: feed 3 lines
    b"\x1dVB\x00"  # GS V 66 0: feed to the cutter, partial cut
)


def test_a_small_receipt_is_exactly_these_bytes() -> None:
    assert encode(SMALL) == SMALL_BYTES


def test_on_58mm_paper_the_qr_modules_are_4_dots() -> None:
    narrow = encode(Document((QRCode("SALE-1"),)), width_chars=32)
    assert b"\x1d(k\x03\x00\x31\x43\x04" in narrow


def test_a_receipt_in_ascii_is_sent_without_chinese_mode() -> None:
    assert encode(Document((Line("Tea"),))) == b"\x1b@Tea\n\x1bd\x03\x1dVB\x00"


@pytest.mark.parametrize(
    ("document", "says"),
    [
        (Document((Line("Wang\x1bp\x00\x19\xfa"),)), "control character U+001B"),
        (Document((Line("two\nlines"),)), "control character U+000A"),
        (Document((QRCode(""),)), "QR code holds 1 to 7089 bytes"),
        (Document((Barcode("茶"),)), "printable ASCII"),
        (Document((Barcode("9" * 254),)), "at most 253 bytes"),
    ],
)
def test_what_a_printer_cannot_print_as_asked_is_refused(document: Document, says: str) -> None:
    with pytest.raises(DocumentNotPrintable, match=re.escape(says)):
        encode(document)


# -- status ------------------------------------------------------------------------------

READY = {1: b"\x12", 2: b"\x12", 4: b"\x12"}


@pytest.mark.parametrize(
    ("answers", "expected", "state"),
    [
        (READY, PrinterStatus(True, False, False, False), "ready"),
        # DLE EOT 1 bit 3: offline (for no cause DLE EOT 2 names)
        ({**READY, 1: b"\x1a"}, PrinterStatus(False, False, False, False), "offline"),
        # DLE EOT 2 bit 2: cover open (the printer is offline too)
        ({1: b"\x1a", 2: b"\x16", 4: b"\x12"}, PrinterStatus(False, True, False, False), "cover_open"),
        # DLE EOT 4 bits 2-3: near end; still ready
        ({**READY, 4: b"\x1e"}, PrinterStatus(True, False, True, False), "ready"),
        # DLE EOT 4 bits 5-6: out (bits 2-3 with them: it was near its end too)
        ({1: b"\x1a", 2: b"\x12", 4: b"\x7e"}, PrinterStatus(False, False, True, True), "paper_out"),
        # a printer setting only one of each pair of bits
        ({1: b"\x1a", 2: b"\x12", 4: b"\x32"}, PrinterStatus(False, False, False, True), "paper_out"),
        ({**READY, 4: b"\x16"}, PrinterStatus(True, False, True, False), "ready"),
        # DLE EOT 2 bit 5: printing stopped at the paper end, even if 4 was not answered
        ({1: b"\x1a", 2: b"\x32"}, PrinterStatus(False, False, None, True), "paper_out"),
    ],
)
def test_each_condition_is_read_from_its_bits(
    answers: dict[int, bytes], expected: PrinterStatus, state: str
) -> None:
    status = parse_status(answers)
    assert status == expected
    assert status.state == state


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x10",  # the query's own first byte echoed back (loop://, a modem)
        b"\x13",  # bit 0 set
        b"\x92",  # bit 7 set
        b"\x02",  # bit 4 clear
        b"\x12\x12",  # two bytes, each alone a status byte: not one answer
        b"\xff",
        b"\x00",
    ],
)
def test_an_answer_without_the_fixed_bits_is_unknown(garbage: bytes) -> None:
    for n in (1, 2, 4):
        status = parse_status({**READY, n: garbage})
        assert status.state == "unknown", (n, garbage)


@pytest.mark.parametrize("missing", [(1,), (2,), (4,), (1, 2), (2, 4), (1, 2, 4)])
@pytest.mark.parametrize("how", ["missing", "empty"])
def test_a_missing_or_empty_answer_is_unknown_never_ready(missing: tuple[int, ...], how: str) -> None:
    answers = {n: answer for n, answer in READY.items() if n not in missing}
    if how == "empty":
        answers.update({n: b"" for n in missing})
    status = parse_status(answers)
    assert status.state == "unknown"
    assert parse_status({}) == PrinterStatus(None, None, None, None)


def test_a_known_fault_is_named_even_when_the_rest_is_unknown() -> None:
    assert parse_status({2: b"\x16"}).state == "cover_open"
    assert parse_status({1: b"\x1a"}).state == "offline"


answer = st.one_of(st.integers(0, 255).map(lambda value: bytes([value])), st.binary(max_size=2))


@PROPERTY
@given(st.fixed_dictionaries({}, optional={1: answer, 2: answer, 4: answer, 3: answer}))
def test_ready_only_when_all_three_answers_are_status_bytes_saying_so(answers: dict[int, bytes]) -> None:
    if parse_status(answers).state == "ready":
        for n in (1, 2, 4):
            assert len(answers[n]) == 1
            assert answers[n][0] & 0x93 == 0x12


@PROPERTY
@given(st.builds(PrinterStatus, st.booleans(), st.booleans(), st.booleans(), st.booleans()))
def test_a_status_said_is_the_status_read(status: PrinterStatus) -> None:
    assert parse_status(status_answers(status)) == status


def test_the_status_queries_are_dle_eot_1_2_4() -> None:
    assert STATUS_QUERIES == {1: b"\x10\x04\x01", 2: b"\x10\x04\x02", 4: b"\x10\x04\x04"}


# -- decode: python-escpos's bytes and our own --------------------------------------------


def test_python_escpos_output_reads_back_with_its_styles_qr_and_barcode() -> None:
    p = Dummy()
    p.set(align="center", bold=True, double_height=True, double_width=True)
    p.text("Tea shop\n")
    # python-escpos 3's set() sends only what it is given; set_with_default() resets.
    p.set_with_default()
    p.text("Total 12.50\n")
    p.qr("SALE-1", native=True)
    # 3.1's CODE128 wants the code set in the data, and function type B (GS k 73 n).
    p.barcode("{BSALE1", "CODE128", function_type="B")
    p.cashdraw(2)
    p.cut()
    [receipt] = decode(p.output)
    assert receipt.document.blocks == (
        Line("Tea shop", bold=True, double=True, align="center"),
        Line("Total 12.50"),
        QRCode("SALE-1"),
        Barcode("SALE1"),
    )
    assert receipt.drawer_kicked
    assert receipt.cut
    assert receipt.skipped == ()
    assert receipt.raw == p.output


def test_python_escpos_chinese_text_after_fs_ampersand_reads_as_chinese() -> None:
    p = Dummy()
    p._raw(b"\x1c&")
    p.text("谢谢惠顾\n")
    p.cut()
    [receipt] = decode(p.output)
    assert receipt.document.blocks == (Line("谢谢惠顾"),)


def test_an_image_is_skipped_by_its_length_even_when_its_bytes_look_like_commands() -> None:
    p = Dummy()
    p.text("logo below\n")
    # GS v 0: 3 bytes wide, 2 dots high; its 6 bytes read as commands would be a cut
    # and two lines.
    p._raw(b"\x1dv0\x00\x03\x00\x02\x00" + b"\x1dV\x00\nX\n")
    p.text("after\n")
    p.cut()
    [receipt] = decode(p.output)
    assert receipt.document.blocks == (Line("logo below"), Line("after"))


def test_python_escpos_raster_images_are_skipped_whole() -> None:
    p = Dummy()
    p.text("before\n")
    p.qr("SALE-2", native=False)  # drawn by python-escpos and sent as a GS v 0 image
    p.image(Image.new("1", (24, 8), 0))  # all black: every byte 0xFF, text if misread
    p.text("after\n")
    p.cut()
    [receipt] = decode(p.output)
    lines = [block.text for block in receipt.document.blocks if isinstance(block, Line)]
    assert lines[0] == "before"
    assert lines[-1] == "after"
    assert all(text == "" for text in lines[1:-1])  # only the LFs python-escpos puts around it
    assert receipt.skipped == ()


def test_receipts_split_at_each_cut_and_an_unknown_command_is_named() -> None:
    data = encode(Document((Line("one"),))) + b"\x1b\x7f" + encode(Document((Line("two"),)))
    first, second = decode(data)
    assert first.document.text() == "one"
    assert second.document.text() == "two"
    assert first.raw + second.raw == data
    assert second.skipped == ("unknown command 1b 7f",)


def test_a_round_trip_of_every_style_chinese_qr_barcode_and_drawer_kick() -> None:
    document = Document(
        (
            Line("分店 BR01", bold=True, double=True, align="center"),
            Line("奶茶 x2", align="left"),
            Line("24.00", bold=True, align="right"),
            Line(""),
            QRCode("SALE-BR01-000042"),
            Line("会员 周杰", double=True),
            Barcode("BR01{42}"),
        ),
        kick_drawer=True,
    )
    [receipt] = decode(encode(document))
    assert receipt.document == document
    assert receipt.drawer_kicked


printable_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30)
blocks = st.one_of(
    st.builds(Line, printable_text, st.booleans(), st.booleans(), st.sampled_from(ALIGNS)),
    st.builds(QRCode, st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=40)),
    st.builds(
        Barcode, st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=40)
    ),
)
documents = st.builds(Document, st.lists(blocks, max_size=8).map(tuple), st.booleans())


@PROPERTY
@given(documents, st.sampled_from([32, 48]))
def test_decode_reads_back_every_document_encode_writes(document: Document, width_chars: int) -> None:
    assert [receipt.document for receipt in decode(encode(document, width_chars=width_chars))] == [document]


# -- a stream of queries and jobs -------------------------------------------------------------


def _stream() -> tuple[bytes, list[int | bytes]]:
    # The QR code's data holds a status query and a cut: neither is one.
    job1 = encode(Document((Line("一"), QRCode("\x10\x04\x01\x1dVB\x00")), kick_drawer=True))
    job2 = encode(Document((Line("two"), Barcode("B{2"))))
    stream = STATUS_QUERIES[1] + job1 + STATUS_QUERIES[2] + STATUS_QUERIES[4] + job2 + STATUS_QUERIES[1]
    return stream, [1, job1, 2, 4, job2, 1]


def test_a_stream_splits_into_queries_and_jobs_the_same_at_every_offset() -> None:
    stream, expected = _stream()
    for offset in range(len(stream) + 1):
        splitter = JobSplitter()
        events = splitter.feed(stream[:offset]) + splitter.feed(stream[offset:])
        assert events == expected, offset
    splitter = JobSplitter()
    assert [event for byte in stream for event in splitter.feed(bytes([byte]))] == expected


def test_the_qr_data_that_looks_like_a_query_and_a_cut_reads_back_whole() -> None:
    _, events = _stream()
    job = events[1]
    assert isinstance(job, bytes)
    [receipt] = decode(job)
    assert receipt.document.blocks == (Line("一"), QRCode("\x10\x04\x01\x1dVB\x00"))

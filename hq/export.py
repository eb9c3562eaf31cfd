"""A report's table as a file to download: CSV (UTF-8 with a byte-order mark, so a
spreadsheet opened by double-click reads the Chinese right) and XLSX (XlsxWriter).

Money columns hold integer fen (rule 5 of the house: never a float for money). CSV
writes them as exact yuan text, 1234.50; XLSX keeps the integer fen in the cell and
shows it with two decimals by a number format, so a spreadsheet's sums stay exact."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import xlsxwriter

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# Shows 123450 (fen) as 1,234.50: the literal point before the last two digits.
_YUAN_FORMAT = '#,##0"."00;-#,##0"."00'


def yuan_text(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def _heading(name: str, is_money: bool) -> str:
    return f"{name} (yuan)" if is_money else name


def to_csv(header: Sequence[str], rows: Sequence[Sequence[int | str]], money: set[int]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([_heading(name, i in money) for i, name in enumerate(header)])
    for row in rows:
        writer.writerow(
            [
                yuan_text(value) if i in money and isinstance(value, int) else value
                for i, value in enumerate(row)
            ]
        )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[int | str]], money: set[int]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    yuan = book.add_format({"num_format": _YUAN_FORMAT})
    for column, name in enumerate(header):
        sheet.write_string(0, column, _heading(name, column in money), bold)
    for row_no, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            if isinstance(value, int):
                sheet.write_number(row_no, column, value, yuan if column in money else None)
            else:
                sheet.write_string(row_no, column, value)
    sheet.freeze_panes(1, 0)
    book.close()
    return out.getvalue()

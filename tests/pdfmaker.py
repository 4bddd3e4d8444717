"""Write small, valid text PDFs for tests (one Helvetica text line per row, one page per list item), and
a page with a ruled table whose cells wrap over several lines, drawn cell after cell as word processors do."""

from __future__ import annotations


def _escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]]) -> bytes:
    """A PDF whose page i shows the lines of pages[i], top to bottom."""
    streams = []
    for lines in pages:
        ops = ["BT", "/F1 11 Tf", "14 TL", "60 760 Td"]
        for line in lines:
            ops.append(f"({_escape(line)}) Tj T*")
        ops.append("ET")
        streams.append("\n".join(ops))
    return _assemble(streams)


def make_table_pdf(before: list[str], rows: list[list[list[str]]], after: list[str], widths: list[int]) -> bytes:
    """One page: the lines `before`, a ruled table (rows of cells, each cell its wrapped lines, columns
    `widths` points wide), then the lines `after`. The text is drawn cell after cell, row by row."""
    ops = ["BT", "/F1 11 Tf", "14 TL", "60 760 Td"]
    ops += [f"({_escape(line)}) Tj T*" for line in before]
    ops.append("ET")
    top = 760 - 14 * len(before) - 10
    for row in rows:
        height = 14 * max(len(cell) for cell in row) + 6
        x = 60
        for cell, width in zip(row, widths, strict=True):
            ops.append(f"{x} {top - height} {width} {height} re S")
            ops += ["BT", "/F1 11 Tf", "14 TL", f"{x + 3} {top - 14} Td"]
            ops += [f"({_escape(line)}) Tj T*" for line in cell]
            ops.append("ET")
            x += width
        top -= height
    ops += ["BT", "/F1 11 Tf", "14 TL", f"60 {top - 24} Td"]
    ops += [f"({_escape(line)}) Tj T*" for line in after]
    ops.append("ET")
    return _assemble(["\n".join(ops)])


def _assemble(streams: list[str]) -> bytes:
    objs: list[bytes] = [b"", b""]  # 1: catalog, 2: pages tree, filled in last
    font_id = 3
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for text in streams:
        stream = text.encode("latin-1")
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        content_id = len(objs)
        objs.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R >> >> "
            b"/Contents %d 0 R >>" % (font_id, content_id)
        )
        kids.append(len(objs))
    objs[0] = b"<< /Type /Catalog /Pages 2 0 R >>"
    objs[1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)

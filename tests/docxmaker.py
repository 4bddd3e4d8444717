"""Write a small Word SOP for tests: headings, a numbered list, a table, a footnote, a tracked change, a comment."""

from __future__ import annotations

import io

from docx import Document
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

DELETED = "within thirty days of discovery"
INSERTED = "within five working days of discovery"
COMMENT = "Check this period with the QA director"
FOOTNOTE = "Critical deviations are those that could affect patient safety or product quality."
DEVIATION = "The deviation owner shall record every unplanned departure from an approved procedure in the deviation log"
TABLE_ROW = ("Critical", "QA director", "24 hours")

_FOOTNOTES = (
    f"<w:footnotes {nsdecls('w')}>"
    '<w:footnote w:type="separator" w:id="-1"><w:p><w:r><w:separator/></w:r></w:p></w:footnote>'
    '<w:footnote w:type="continuationSeparator" w:id="0"><w:p><w:r><w:continuationSeparator/></w:r></w:p>'
    "</w:footnote>"
    f'<w:footnote w:id="1"><w:p><w:r><w:footnoteRef/></w:r><w:r><w:t xml:space="preserve"> {FOOTNOTE}</w:t></w:r>'
    "</w:p></w:footnote></w:footnotes>"
)


def make_sop_docx(title: str = "SOP-QA-042 Deviation management") -> bytes:
    """An SOP whose section 4.2 holds a list, a table, a footnote, a tracked change and a comment."""
    doc = Document()
    doc.core_properties.title = title
    doc.add_heading("1 Purpose", level=1)
    doc.add_paragraph("This procedure describes how deviations from approved GMP procedures are recorded and assessed.")
    doc.add_heading("4 Procedure", level=1)
    doc.add_paragraph("Every member of staff follows this procedure when something does not go as planned.")
    doc.add_heading("4.1 Scope of deviations", level=2)
    doc.add_paragraph("Deviations include departures from batch records, test methods and equipment procedures.")
    doc.add_heading("4.2 Deviations", level=2)
    p = doc.add_paragraph(f"{DEVIATION}.")
    ref = p.add_run()
    ref._r.append(parse_xml(f'<w:footnoteReference {nsdecls("w")} w:id="1"/>'))
    changed = doc.add_paragraph("The quality unit classifies each deviation ")
    changed._p.append(
        parse_xml(
            f'<w:del {nsdecls("w")} w:id="101" w:author="Reviewer" w:date="2024-01-01T00:00:00Z">'
            f'<w:r><w:delText xml:space="preserve">{DELETED}</w:delText></w:r></w:del>'
        )
    )
    changed._p.append(
        parse_xml(
            f'<w:ins {nsdecls("w")} w:id="102" w:author="Reviewer" w:date="2024-01-01T00:00:00Z">'
            f'<w:r><w:t xml:space="preserve">{INSERTED}</w:t></w:r></w:ins>'
        )
    )
    tail = changed.add_run(" as critical, major or minor.")
    doc.add_comment(tail, text=COMMENT, author="Reviewer")
    doc.add_paragraph("Open a deviation record in the log", style="List Number")
    doc.add_paragraph("Notify the area supervisor", style="List Number")
    doc.add_paragraph("Assess the impact on released batches", style="List Number")
    table = doc.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ("Classification", "Approver", "Notification"), strict=True):
        cell.text = text
    for values in (TABLE_ROW, ("Major", "QA manager", "3 working days"), ("Minor", "Area supervisor", "10 days")):
        for cell, text in zip(table.add_row().cells, values, strict=True):
            cell.text = text
    doc.add_heading("5 Records", level=1)
    doc.add_paragraph("Deviation records are retained for the life of the product plus one year.")
    part = doc.part
    footnotes = Part(
        PackURI("/word/footnotes.xml"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml",
        _FOOTNOTES.encode("utf-8"),
        part.package,
    )
    part.relate_to(footnotes, RT.FOOTNOTES)
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()

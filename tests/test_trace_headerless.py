"""A banner-less excerpt (mail quote, CVE description) is titled by its top frame for people to
read, but that title names no crash class: its signature offers no exact key, and the CVE
importer (run on the real function) keeps only the frames."""

from __future__ import annotations

from pathlib import Path

from sigmatch import parse_log, signature_of
from sigmatch.catalog.cve import signatures_in

LOG = Path(__file__).resolve().parent / "fixtures" / "logs" / "headerless-call-trace.log"

DESCRIPTION = """In the Linux kernel, the following vulnerability has been resolved:

widget: fix use after free in the rx cleanup path

The rx ring is freed twice when the reset work races with close:

 Call Trace:
  <TASK>
  dump_stack_lvl+0x48/0x66
  free_unref_page+0xbd/0x140
  widget_dma_rx_cleanup+0x94/0x120 [widget]
  widget_wpdma_reset+0x1a1/0x2b0 [widget]
  widget_reset_work+0x58/0x110 [widget]
  process_one_work+0x1e2/0x3b0
  worker_thread+0x50/0x3a0
  kthread+0xe8/0x110
  ret_from_fork+0x22/0x30
  </TASK>

Take the ring lock in the reset work.
"""


def test_headerless_report_keeps_its_readable_title_but_offers_no_exact_key() -> None:
    (report,) = parse_log(LOG.read_text(encoding="utf-8"))
    assert report.title == "kernel stack trace in free_pcppages_bulk"
    sig = signature_of(report)
    assert sig.title == report.title and not sig.title_is_key
    assert sig.alt_titles == () and sig.keys == ()
    assert sig.frames[:2] == ("free_pcppages_bulk", "free_unref_page")
    assert sig.low_information and sig.corrupted


def test_cve_importer_keeps_only_the_frames_of_a_headerless_excerpt() -> None:
    sigs = signatures_in(DESCRIPTION, "CVE-2099-0001 description")
    assert sigs
    for s in sigs:
        assert s.title is None or "kernel stack trace" not in s.title
        assert not any("kernel stack trace" in t for t in s.alt_titles)
    assert any(s.frames[:1] == ("free_unref_page",) or "widget_dma_rx_cleanup" in s.frames for s in sigs)


def test_a_bannered_report_keeps_its_title_as_key() -> None:
    text = "BUG: kernel NULL pointer dereference, address: 0000000000000008\n" + LOG.read_text(encoding="utf-8")
    report = parse_log(text)[0]
    sig = signature_of(report)
    assert sig.title == report.title and sig.title_is_key and sig.keys[0] == report.title

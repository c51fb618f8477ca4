"""Hostile files against extract_file (ingest.sandbox): a file that would exhaust memory or time, loop
or crash its reader fails with invalid_file, saying which limit it passed; the process reading never
dies or hangs, the worker pool recovers, and no worker outlives its parent. Timeouts here are only
bounds that prove nothing hangs."""

from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
import zlib

import pytest
from test_ingest_text import MARKER, docx_bytes, pdf_bytes

from supercompat.ingest import IngestError, extract_file, extraction, sandbox
from supercompat.ingest.extraction import html_text
from supercompat.testing.forking import in_forked_child

pytestmark = pytest.mark.skipif(not sandbox.SUPPORTED, reason="workers with limits need POSIX rlimits")


@pytest.fixture
def hooked(monkeypatch):
    monkeypatch.setattr(sandbox, "WORKER_HOOK", "extraction_hooks:act")


async def read(tmp_path, filename: str, data: bytes, content_type: str | None = None) -> str:
    path = tmp_path / f"upload-{os.urandom(4).hex()}"
    path.write_bytes(data)
    return await extract_file(filename, path, content_type)


async def fails(tmp_path, filename: str, data: bytes = b"some text") -> IngestError:
    with pytest.raises(IngestError) as info:
        await read(tmp_path, filename, data)
    assert info.value.code == "invalid_file"
    return info.value


async def still_works(tmp_path) -> None:
    assert await read(tmp_path, "notes.txt", MARKER.encode()) == MARKER


# -- readers' own limits ---------------------------------------------------------------------------------

@pytest.mark.parametrize("tail", ["<a" * 500_000, "</" * 500_000, "<a b='" + "<a " * 300_000, "<?" * 500_000])
async def test_html_with_a_construct_left_open_to_the_end_is_read_in_linear_time(tmp_path, monkeypatch, tail):
    """1 MB of "<a" took html.parser's close() about 13 minutes (quadratic): past the timeout here."""
    monkeypatch.setattr(extraction, "TIMEOUT_S", 30.0)
    page = f"<p>{MARKER}</p>" + tail
    assert await read(tmp_path, "page.html", page.encode()) == MARKER
    assert html_text(page) == MARKER


def test_html_keeps_text_held_back_at_the_end_and_drops_an_unclosed_comment():
    assert html_text("<p>AT&amp;T</p> and AT&T") == "AT&T\nand AT&T"
    assert html_text(f"<p>{MARKER}</p><!-- never closed <p>hidden</p>") == MARKER


def pdf_with_pages(count: int, operators: int) -> bytes:
    """A PDF whose page tree lists one page ``count`` times (six bytes each), that page showing text
    with ``operators`` operators (compressed: a few bytes each)."""
    content = zlib.compress(b"BT /F1 12 Tf 72 720 Td " + b"(marmot ledger) Tj " * operators + b"ET")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [" + b"3 0 R " * count + b"] /Count %d >>" % count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


async def test_a_pdf_with_more_pages_than_read_is_invalid(tmp_path):
    assert "marmot ledger" in await read(tmp_path, "short.pdf", pdf_with_pages(3, 1))
    error = await fails(tmp_path, "long.pdf", pdf_with_pages(extraction.MAX_PDF_PAGES + 1, 1))
    assert f"more than the {extraction.MAX_PDF_PAGES}" in error.message


@pytest.mark.parametrize("count, operators", [(4000, 2000), (1, 300_000)], ids=["slow-pages", "endless-page"])
async def test_a_pdf_that_takes_too_long_is_invalid_within_the_timeout(tmp_path, monkeypatch, count, operators):
    """40 KB that take about 6 minutes to read: stopped between pages, or the worker killed mid-page."""
    monkeypatch.setattr(extraction, "TIMEOUT_S", 2.0)
    error = await fails(tmp_path, "bomb.pdf", pdf_with_pages(count, operators))
    assert error.message == "The file took more than 2 s to read."
    await still_works(tmp_path)


def zip_bomb_docx(unpacked: int) -> bytes:
    """A real DOCX plus one part of ``unpacked`` spaces, which deflate to about a thousandth of that."""
    out = io.BytesIO(docx_bytes(MARKER))
    with zipfile.ZipFile(out, "a", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("word/bomb.xml", "w", force_zip64=True) as part:
            block = b" " * 2**20
            for _ in range(unpacked // 2**20):
                part.write(block)
    return out.getvalue()


async def test_a_zip_bomb_docx_is_invalid_before_it_is_unpacked(tmp_path):
    bomb = zip_bomb_docx(extraction.MAX_UNPACKED_BYTES + 2**20)
    assert len(bomb) < extraction.MAX_UNPACKED_BYTES // 200
    error = await fails(tmp_path, "bomb.docx", bomb)
    assert "would unpack to" in error.message
    small_bomb = zip_bomb_docx(extraction.MAX_UNPACKED_XML_BYTES + 2**20)  # XML is parsed into a tree
    assert "of XML" in (await fails(tmp_path, "bomb.docx", small_bomb)).message
    assert MARKER in await read(tmp_path, "fine.docx", zip_bomb_docx(2**20))


# -- the worker's limits -------------------------------------------------------------------------------------

async def test_a_reader_that_allocates_without_end_fails_at_the_memory_limit(tmp_path, monkeypatch, hooked):
    """The hook allocates 4 GiB (this machine would give it): the worker's address space limit stops it."""
    monkeypatch.setattr(extraction, "MEMORY_BYTES", 256 * 2**20)
    error = await fails(tmp_path, "hog.txt")
    assert error.message == "The file took more than 256 MiB of memory to read."
    await still_works(tmp_path)


async def test_a_reader_that_crashes_fails_the_file_and_the_next_file_is_read(tmp_path, hooked):
    error = await fails(tmp_path, "crash.txt")
    assert error.message == "The file could not be read: its reader crashed (SIGSEGV)."
    await still_works(tmp_path)
    assert await asyncio.gather(*(read(tmp_path, "notes.txt", b"again") for _ in range(3))) == ["again"] * 3


@pytest.mark.parametrize("filename", ["sleep.txt", "spin.txt"])
async def test_a_reader_that_hangs_or_loops_is_stopped_at_the_timeout(tmp_path, monkeypatch, hooked, filename):
    monkeypatch.setattr(extraction, "TIMEOUT_S", 1.0)
    error = await fails(tmp_path, filename)
    assert error.message == "The file took more than 1 s to read."
    await still_works(tmp_path)


def test_a_looping_worker_is_ended_by_the_kernel_even_if_its_parent_never_stops_it(tmp_path):
    """The CPU limit holds without the parent: a worker spinning on its own dies of SIGXCPU."""
    worker = subprocess.Popen([sys.executable, "-c", sandbox.BOOT, json.dumps(sys.path), sandbox._PACKAGE_DIR, "60"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    (tmp_path / "spin.txt").write_text("x")
    request = {"filename": "spin.txt", "path": str(tmp_path / "spin.txt"), "content_type": None, "timeout": 1,
               "memory": 2**30, "hook": "extraction_hooks:act",
               "limits": {"MAX_PDF_PAGES": 1, "MAX_UNPACKED_BYTES": 1, "MAX_UNPACKED_XML_BYTES": 1}}
    worker.stdin.write(json.dumps(request).encode() + b"\n")
    worker.stdin.flush()
    try:
        assert worker.wait(timeout=60) == -signal.SIGXCPU
    finally:
        worker.kill()
        worker.wait()
        worker.stdin.close()
        worker.stdout.close()


# -- the pool ---------------------------------------------------------------------------------------------------

async def test_files_are_read_at_most_workers_at_once_by_reused_workers(tmp_path, monkeypatch, hooked):
    log = tmp_path / "hook.log"
    monkeypatch.setenv("EXTRACTION_HOOK_LOG", str(log))  # seen by workers started from now on
    pool = sandbox.WorkerPool(2)
    try:
        paths = []
        for number in range(8):
            path = tmp_path / f"slow{number}.txt"
            path.write_text(f"file {number}")
            paths.append(path)
        texts = await asyncio.gather(*(pool.extract(path.name, str(path), None) for path in paths))
        assert texts == [f"file {number}" for number in range(8)]
    finally:
        pool.close()
    spans = [line.split() for line in log.read_text().splitlines()]
    assert len(spans) == 8 and len({pid for pid, _, _ in spans}) == 2  # two workers, each reused
    events = sorted([(float(start), 1) for _, start, _ in spans] + [(float(end), -1) for _, _, end in spans])
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    assert peak <= 2


async def test_a_file_cancelled_while_read_or_waiting_frees_its_worker(tmp_path, monkeypatch, hooked):
    pool = sandbox.WorkerPool(1)
    try:
        (tmp_path / "sleep.txt").write_text("x")
        (tmp_path / "notes.txt").write_text(MARKER)
        reading = asyncio.ensure_future(pool.extract("sleep.txt", str(tmp_path / "sleep.txt"), None))
        waiting = asyncio.ensure_future(pool.extract("notes.txt", str(tmp_path / "notes.txt"), None))
        await asyncio.sleep(0.5)
        waiting.cancel()
        reading.cancel()
        for task in (reading, waiting):
            with pytest.raises(asyncio.CancelledError):
                await task
        assert await asyncio.wait_for(pool.extract("notes.txt", str(tmp_path / "notes.txt"), None), 30) == MARKER
    finally:
        pool.close()


async def test_an_idle_worker_that_has_exited_is_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox, "WORKER_IDLE_S", 0.2)
    pool = sandbox.WorkerPool(1)
    try:
        (tmp_path / "notes.txt").write_text(MARKER)
        assert await pool.extract("notes.txt", str(tmp_path / "notes.txt"), None) == MARKER
        await asyncio.sleep(1)  # the worker has said goodbye and exited
        assert await pool.extract("notes.txt", str(tmp_path / "notes.txt"), None) == MARKER
    finally:
        pool.close()


def test_a_forked_child_reads_with_workers_of_its_own_and_the_parent_goes_on(tmp_path):
    (tmp_path / "notes.txt").write_text(MARKER)

    def read_notes() -> str:
        return asyncio.run(extract_file("notes.txt", tmp_path / "notes.txt"))

    assert read_notes() == MARKER  # the parent has an idle worker now
    assert in_forked_child(read_notes) == MARKER
    assert read_notes() == MARKER


def run_script(body: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(body)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode in (0, -signal.SIGKILL), done.stderr
    return done.stdout


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped by init
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("ending", ["exit", "SIGKILL"])
def test_no_worker_outlives_its_parent_however_it_ends(tmp_path, ending):
    (tmp_path / "notes.txt").write_text(MARKER)
    out = run_script(f"""
        import asyncio, os, signal
        from supercompat.ingest import extract_file, sandbox
        asyncio.run(extract_file("notes.txt", {str(tmp_path / "notes.txt")!r}))
        print([w.process.pid for w in sandbox._the_pool._idle], flush=True)
        if {ending!r} == "SIGKILL":
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    pids = json.loads(out)
    assert len(pids) == 1
    deadline = time.monotonic() + 30
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in pids)


def test_extraction_works_under_gevent_and_waits_on_the_hub():
    pytest.importorskip("gevent")
    out = run_script("""
        from gevent import monkey
        monkey.patch_all()
        import json, os, tempfile, gevent
        from supercompat.loop import run_sync
        from supercompat.ingest import extract_file
        path = os.path.join(tempfile.mkdtemp(), "notes.txt")
        with open(path, "w") as f:
            f.write("under gevent")
        ticks = []
        ticker = gevent.spawn(lambda: [ticks.append(gevent.sleep(0.01)) for _ in range(20)])
        readers = [gevent.spawn(run_sync, extract_file("notes.txt", path)) for _ in range(4)]
        gevent.joinall(readers + [ticker], timeout=60)
        print(json.dumps({"texts": [r.value for r in readers], "ticks": len(ticks)}))
    """)
    assert json.loads(out.strip().splitlines()[-1]) == {"texts": ["under gevent"] * 4, "ticks": 20}


async def test_a_file_with_a_damaged_pdf_in_the_worker_is_invalid_not_a_crash(tmp_path):
    error = await fails(tmp_path, "cut.pdf", pdf_bytes(MARKER)[:300])
    assert error.message.startswith("The PDF file could not be read")


def test_a_server_with_its_stdin_and_stdout_closed_still_reads(tmp_path):
    """A daemon may have closed fds 0 and 1: the worker's pipes then come there, and must not clash."""
    (tmp_path / "notes.txt").write_text(MARKER)
    script = f"""
        import asyncio, os, sys
        os.close(0)
        os.close(1)
        from supercompat.ingest import extract_file
        sys.stderr.write(asyncio.run(extract_file("notes.txt", {str(tmp_path / "notes.txt")!r})))
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True,
                          timeout=120)
    assert (done.returncode, done.stderr) == (0, MARKER)


async def test_without_rlimits_files_are_read_in_a_thread(tmp_path, monkeypatch):
    """Windows has no ``resource``: extract_file still reads, in a thread, with the readers' limits."""
    monkeypatch.setattr(sandbox, "SUPPORTED", False)
    assert await read(tmp_path, "notes.txt", MARKER.encode()) == MARKER
    assert "no text" in (await fails(tmp_path, "blank.txt", b"  ")).message

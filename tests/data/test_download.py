"""Dataset download against a local HTTP server: verify, resume, restart, unpack atomically."""

from __future__ import annotations

import hashlib
import io
import random
import re
import shutil
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from rayrec.cli import main
from rayrec.data import download as dl
from rayrec.data import load_dataset
from rayrec.data.download import (
    DOWNLOADS_DIR,
    MARKER,
    download_dataset,
    get_source,
)
from rayrec.errors import InputError
from tests.data.movielens_fixtures import MOVIES, RATINGS, USERS, ratings_text


# --------------------------------------------------------------- test server
@dataclass
class ServerState:
    """What the fake server serves and what it was asked."""

    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    cut_after: int | None = None  # close the connection after this many body bytes
    requests: list[str | None] = field(default_factory=list)  # the Range header of each GET
    sent: int = 0  # body bytes sent in total


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        state = self.server.state
        data = state.files.get(self.path)
        if data is None:
            self.send_error(404, "Not Found")
            return
        wanted = self.headers.get("Range")
        state.requests.append(wanted)
        status, body, extra = 200, data, {}
        if wanted and state.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))  # type: ignore[union-attr]
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, body = 206, data[start:]
            extra = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        if state.cut_after is not None:
            body = body[: state.cut_after]
            self.close_connection = True
        self.wfile.write(body)
        state.sent += len(body)

    def log_message(self, format: str, *args: object) -> None:  # silence the test output
        pass


class _Server(ThreadingHTTPServer):
    state: ServerState


@dataclass
class Served:
    url: str
    state: ServerState

    def add(self, name: str, data: bytes) -> str:
        self.state.files[f"/{name}"] = data
        return f"{self.url}/{name}"


@pytest.fixture
def server() -> Iterator[Served]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.state = ServerState()
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{httpd.server_address[1]}", httpd.state)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# ------------------------------------------------------------------ archives
def ml1m_zip(*, top: str = "ml-1m", padding: int = 0) -> bytes:
    """A small zip laid out like GroupLens' ml-1m.zip, in the original ``::`` format."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        prefix = f"{top}/" if top else ""
        if top:
            zf.writestr(zipfile.ZipInfo(prefix), b"")  # the folder entry itself
        zf.writestr(f"{prefix}ratings.dat", ratings_text().encode("latin-1"))
        zf.writestr(f"{prefix}users.dat", ("\n".join(USERS) + "\n").encode("latin-1"))
        zf.writestr(f"{prefix}movies.dat", ("\n".join(MOVIES) + "\n").encode("latin-1"))
        # incompressible padding, so the archive really is ``padding`` bytes bigger
        zf.writestr(f"{prefix}README", b"SUMMARY\n" + random.Random(0).randbytes(padding))
    return buf.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------- tests
def test_download_verify_unpack_and_load(tmp_path: Path, server: Served) -> None:
    data = ml1m_zip()
    url = server.add("ml-1m.zip", data)
    seen: list[tuple[int, int | None]] = []
    folder = download_dataset(
        "ml-1m", tmp_path, url=url, sha256=sha(data), progress=lambda d, t: seen.append((d, t))
    )
    assert folder == tmp_path / "movielens-1m"  # the reader's default_dir
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["ratings.dat", "users.dat", "movies.dat", "README", MARKER]
    )  # flattened: no ml-1m/ level
    assert seen[-1] == (len(data), len(data))
    assert server.state.requests == [None]
    assert not (tmp_path / DOWNLOADS_DIR / "ml-1m.zip").exists()  # archive not kept
    assert not list(tmp_path.glob(".movielens-1m*"))  # no temp folders left

    log = load_dataset("ml-1m", path=folder)
    assert log.n_interactions == len(RATINGS)
    assert log.n_users == 3

    # a second call finds the marker and fetches nothing
    assert download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data)) == folder
    assert server.state.requests == [None]


def test_dest_defaults_to_rayrec_data(
    tmp_path: Path, server: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = ml1m_zip()
    url = server.add("ml-1m.zip", data)
    monkeypatch.setenv("RAYREC_DATA", str(tmp_path / "root"))
    folder = download_dataset("movielens-1m", None, url=url, sha256=sha(data), keep_archive=True)
    assert folder == tmp_path / "root" / "movielens-1m"
    assert (tmp_path / "root" / DOWNLOADS_DIR / "ml-1m.zip").read_bytes() == data
    monkeypatch.delenv("RAYREC_DATA")
    monkeypatch.chdir(tmp_path)
    assert dl.data_root(None) == Path("data")


def test_a_kept_verified_archive_is_reused(tmp_path: Path, server: Served) -> None:
    data = ml1m_zip()
    url = server.add("ml-1m.zip", data)
    folder = download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data), keep_archive=True)
    shutil.rmtree(folder)
    download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data))
    assert server.state.requests == [None]  # unpacked again from .downloads, not fetched
    assert (folder / "ratings.dat").is_file()
    assert not (tmp_path / DOWNLOADS_DIR / "ml-1m.zip").exists()


def test_bad_checksum_is_refused_and_nothing_extracted(tmp_path: Path, server: Served) -> None:
    data = ml1m_zip()
    url = server.add("ml-1m.zip", data)
    wrong = "0" * 64
    with pytest.raises(InputError) as err:
        download_dataset("ml-1m", tmp_path, url=url, sha256=wrong)
    message = str(err.value)
    assert "ml-1m.zip" in message and wrong in message and sha(data) in message
    assert not (tmp_path / "movielens-1m").exists()
    downloads = tmp_path / DOWNLOADS_DIR
    assert not list(downloads.iterdir())  # no corrupt .part or final archive kept


def test_bad_checksum_keeps_a_good_earlier_download(tmp_path: Path, server: Served) -> None:
    good = ml1m_zip()
    url = server.add("ml-1m.zip", good)
    folder = download_dataset("ml-1m", tmp_path, url=url, sha256=sha(good))
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    server.state.files["/ml-1m.zip"] = ml1m_zip(padding=10)  # the server now serves another file
    with pytest.raises(InputError, match="checksum mismatch"):
        download_dataset("ml-1m", tmp_path, url=url, sha256="1" * 64)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


def test_official_checksums_apply_to_a_mirror(tmp_path: Path, server: Served) -> None:
    url = server.add("ml-1m.zip", ml1m_zip())  # not the real GroupLens file
    with pytest.raises(InputError) as err:
        download_dataset("ml-1m", tmp_path, url=url)
    assert get_source("ml-1m").sha256 in str(err.value)  # type: ignore[operator]


def test_resume_fetches_only_the_remainder(tmp_path: Path, server: Served) -> None:
    data = ml1m_zip(padding=200_000)
    url = server.add("ml-1m.zip", data)
    part = tmp_path / DOWNLOADS_DIR / "ml-1m.zip.part"
    part.parent.mkdir(parents=True)
    n = len(data) // 3
    part.write_bytes(data[:n])
    seen: list[tuple[int, int | None]] = []
    download_dataset(
        "ml-1m", tmp_path, url=url, sha256=sha(data), progress=lambda d, t: seen.append((d, t))
    )
    assert server.state.requests == [f"bytes={n}-"]
    assert server.state.sent == len(data) - n
    assert seen[0] == (n, len(data)) and seen[-1] == (len(data), len(data))
    assert (tmp_path / "movielens-1m" / "ratings.dat").is_file()
    assert not part.exists()


def test_interrupted_download_resumes_on_the_next_call(tmp_path: Path, server: Served) -> None:
    data = ml1m_zip(padding=300_000)
    url = server.add("ml-1m.zip", data)
    server.state.cut_after = 100_000
    with pytest.raises(InputError, match="interrupted after 100000 ") as err:
        download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data), timeout=5)
    assert url in str(err.value) and "resume" in str(err.value)
    part = tmp_path / DOWNLOADS_DIR / "ml-1m.zip.part"
    assert part.stat().st_size == 100_000
    assert not (tmp_path / "movielens-1m").exists()
    server.state.cut_after = None
    download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data))
    assert server.state.requests == [None, "bytes=100000-"]
    assert (tmp_path / "movielens-1m" / "movies.dat").is_file()


def test_server_ignoring_range_restarts_cleanly(tmp_path: Path, server: Served) -> None:
    data = ml1m_zip(padding=50_000)
    url = server.add("ml-1m.zip", data)
    server.state.honour_range = False
    part = tmp_path / DOWNLOADS_DIR / "ml-1m.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:1000])
    download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data), keep_archive=True)
    assert server.state.requests == ["bytes=1000-"]  # asked to resume, got a 200
    assert server.state.sent == len(data)
    assert (tmp_path / DOWNLOADS_DIR / "ml-1m.zip").read_bytes() == data  # not appended


def test_complete_part_answered_416_is_used(tmp_path: Path, server: Served) -> None:
    data = ml1m_zip()
    url = server.add("ml-1m.zip", data)
    part = tmp_path / DOWNLOADS_DIR / "ml-1m.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(data)  # crashed after the last byte, before the rename
    download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data))
    assert server.state.requests == [f"bytes={len(data)}-"]
    assert (tmp_path / "movielens-1m" / "ratings.dat").is_file()


def test_extraction_failure_leaves_no_partial_folder(tmp_path: Path, server: Served) -> None:
    good = ml1m_zip()
    corrupt = bytearray(good)
    # damage the last member's compressed bytes: earlier members extract first, then CRC fails
    offset = good.index(b"README") + len("README")
    corrupt[offset + 2] ^= 0xFF
    data = bytes(corrupt)
    url = server.add("ml-1m.zip", data)
    with pytest.raises(InputError, match="extraction failed"):
        download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data))
    assert not (tmp_path / "movielens-1m").exists()
    assert [p.name for p in tmp_path.iterdir()] == [DOWNLOADS_DIR]  # no temp folder left


def test_extraction_failure_keeps_the_previous_folder(tmp_path: Path, server: Served) -> None:
    good = ml1m_zip()
    url = server.add("ml-1m.zip", good)
    folder = download_dataset("ml-1m", tmp_path, url=url, sha256=sha(good))
    garbage = b"PK\x03\x04 not really a zip"
    server.add("broken.zip", garbage)
    with pytest.raises(InputError, match="extraction failed"):
        download_dataset("ml-1m", tmp_path, url=f"{server.url}/broken.zip", sha256=sha(garbage))
    assert (folder / "ratings.dat").is_file()


def test_unsafe_archive_paths_are_refused(tmp_path: Path, server: Served) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../escape.txt", b"x")
    data = buf.getvalue()
    url = server.add("evil.zip", data)
    with pytest.raises(InputError, match="unsafe path"):
        download_dataset("ml-1m", tmp_path / "root", url=url, sha256=sha(data))
    assert not (tmp_path / "escape.txt").exists()
    assert not (tmp_path / "root" / "movielens-1m").exists()


def test_tar_archive_with_folder_is_flattened(tmp_path: Path, server: Served) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, content in (("KuaiRand-Pure/data/a.csv", b"x\n"), ("KuaiRand-Pure/l.py", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    data = buf.getvalue()
    url = server.add("KuaiRand-Pure.tar.gz", data)
    folder = download_dataset("kuairand-pure", tmp_path, url=url, sha256=sha(data))
    assert (folder / "data" / "a.csv").read_bytes() == b"x\n"
    assert (folder / "l.py").is_file()


def test_foreign_folder_is_not_replaced(tmp_path: Path, server: Served) -> None:
    data = ml1m_zip()
    url = server.add("ml-1m.zip", data)
    mine = tmp_path / "movielens-1m"
    mine.mkdir()
    (mine / "ratings.dat").write_text("hand-placed")
    with pytest.raises(InputError, match="did not download"):
        download_dataset("ml-1m", tmp_path, url=url, sha256=sha(data))
    assert (mine / "ratings.dat").read_text() == "hand-placed"
    assert server.state.requests == []  # refused before downloading


def test_network_errors_name_the_url(tmp_path: Path, server: Served) -> None:
    missing = f"{server.url}/nope.zip"
    with pytest.raises(InputError, match=re.escape(f"{missing}: download failed: HTTP 404")):
        download_dataset("ml-1m", tmp_path, url=missing, sha256="a" * 64)
    closed = "http://127.0.0.1:9/ml-1m.zip"  # discard port: nothing listens
    with pytest.raises(InputError, match=re.escape(f"{closed}: download failed")):
        download_dataset("ml-1m", tmp_path, url=closed, sha256="a" * 64, timeout=2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "no-such-data"}, "no download source for 'no-such-data'"),
        ({"name": "ml-1m", "url": "ftp://x/ml-1m.zip"}, "expected an http:// or https:// URL"),
        ({"name": "ml-1m", "sha256": "xyz"}, "--sha256: expected 64 hexadecimal digits"),
        ({"name": "rl4rs", "url": "http://127.0.0.1:9/r.tgz"}, "pass the archive's SHA-256"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        download_dataset(dest=tmp_path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "where", "folder"),
    [
        ("retailrocket", "kaggle.com/datasets/retailrocket/ecommerce-dataset", "retailrocket"),
        ("yoochoose", "kaggle.com/datasets/chadgostopp/recsys-challenge-2015", "yoochoose"),
        ("rl4rs", "zenodo.org/records/6622390", "rl4rs"),
        ("yelp", "yelp.com/dataset", "yelp"),
    ],
)
def test_manual_datasets_explain_what_to_do(
    tmp_path: Path, name: str, where: str, folder: str
) -> None:
    with pytest.raises(InputError) as err:
        download_dataset(name, tmp_path)
    message = str(err.value)
    assert where in message
    assert str(tmp_path / dl.dataset_folder(get_source(name))) in message
    assert f"rayrec data validate {name}" in message
    assert dl.dataset_folder(get_source(name)) in (folder, folder.replace("-", ""))
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_manual_dataset_with_url_places_a_single_file(tmp_path: Path, server: Served) -> None:
    data = b"timestamp,visitorid,event,itemid,transactionid\n"
    url = server.add("events.csv", data)
    folder = download_dataset("retailrocket", tmp_path, url=url, sha256=sha(data))
    assert (folder / "events.csv").read_bytes() == data


def test_registry_pins_official_sources() -> None:
    ml = get_source("ml-1m")
    assert ml.url == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    assert ml.sha256 and ml.md5
    assert get_source("ml-100k").url == "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
    for name in ("kuairec", "kuairand-pure", "kuairand-1k"):
        src = get_source(name)
        assert src.url and src.url.startswith("https://zenodo.org/records/") and src.md5
    for name in ("retailrocket", "yoochoose", "rl4rs", "yelp"):
        assert get_source(name).url is None and get_source(name).manual
    assert get_source("KuaiRand").name == "kuairand-pure"


def test_cli_download(tmp_path: Path, server: Served, capsys: pytest.CaptureFixture[str]) -> None:
    data = ml1m_zip()
    url = server.add("ml-1m.zip", data)
    dest = tmp_path / "d"
    argv = ["data", "download", "ml-1m", "--url", url, "--sha256", sha(data), "--dest", str(dest)]
    assert main(argv) == 0
    assert str(dest / "movielens-1m") in capsys.readouterr().out
    assert load_dataset("ml-1m", path=dest / "movielens-1m").n_interactions == len(RATINGS)

    bad = ["data", "download", "ml-1m", "--url", url, "--sha256", "f" * 64, "--dest", str(dest)]
    assert main([*bad[:-1], str(tmp_path / "other")]) == 2
    assert "checksum mismatch" in capsys.readouterr().err
    assert main(["data", "download", "yelp", "--dest", str(dest)]) == 2
    assert "yelp.com/dataset" in capsys.readouterr().err

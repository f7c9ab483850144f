"""KuaiRec readers on generated fixtures in the original KuaiRec 2.0 formats."""

from __future__ import annotations

import bz2
import re
from pathlib import Path

import numpy as np
import pytest

from rayrec.cli import main
from rayrec.data import get_reader
from rayrec.data.readers.kuairec import KuaiRec, KuaiRecBig
from rayrec.data.schema import LIKE, TIMESTAMP, WATCH_RATIO
from rayrec.errors import DataValidationError, InputError, Problem

HEADER = "user_id,video_id,play_duration,video_duration,time,date,timestamp,watch_ratio"
#: user 14 watches 148 then 183; user 19 watches 3649 (the day before) then 148.
#: watch_ratio = play_duration / video_duration: 0.722, 1.907, 2.154, 2.104.
SMALL: tuple[str, ...] = (
    "14,148,4381,6067,2020-07-05 05:27:48.378,20200705.0,1593898068.378,0.722103",
    "14,183,11635,6100,2020-07-05 05:28:00.057,20200705.0,1593898080.057,1.907377",
    "19,148,13067,6067,2020-07-05 00:13:41.297,20200705.0,1593879221.297,2.153783",
    "19,3649,22864,10867,2020-07-04 21:55:10.000,20200704.0,1593870910.0,2.104048",
)
#: big_matrix rows may lack time, date and timestamp.
BIG: tuple[str, ...] = (*SMALL, "21,183,0,6100,,,,0.0", "21,148,3000,6067,,,nan,0.494478")

USER_HEADER = (
    "user_id,user_active_degree,is_lowactive_period,is_live_streamer,is_video_author,"
    "follow_user_num,follow_user_num_range,fans_user_num,fans_user_num_range,"
    "friend_user_num,friend_user_num_range,register_days,register_days_range,"
    + ",".join(f"onehot_feat{k}" for k in range(18))
)
USERS: tuple[str, ...] = (
    "14,high_active,0,0,0,5,\"(0,10]\",0,0,0,0,107,91-180,"
    "0,1,17,638,2,0,1,6,184,6,3,0,0,0,0,0,0,0",
    "19,full_active,0,0,0,386,\"(250,500]\",4,\"[1,10)\",2,\"[1,5)\",327,181-365,"
    "0,3,25,1021,0,0,1,6,94,4,2,0,0,0,0,0,0,0",
)  # fmt: skip
CATEGORIES: tuple[str, ...] = ('148,"[11]"', '183,"[27, 9]"', '3649,"[5, 28, 9]"')


def text(header: str, rows: tuple[str, ...] | list[str], end: str = "\n") -> bytes:
    return ("\n".join([header, *rows]) + end).encode("utf-8")


def write_kuairec(
    root: Path,
    *,
    small: bytes | None = None,
    big: bool = False,
    side: bool = True,
    compress: bool = False,
) -> Path:
    """KuaiRec 2.0 files in ``root`` (``small_matrix.csv`` bz2-compressed if asked)."""
    root.mkdir(parents=True, exist_ok=True)
    data = text(HEADER, SMALL) if small is None else small
    if compress:
        (root / "small_matrix.csv.bz2").write_bytes(bz2.compress(data))
    else:
        (root / "small_matrix.csv").write_bytes(data)
    if big:
        (root / "big_matrix.csv").write_bytes(text(HEADER, BIG))
    if side:
        (root / "user_features.csv").write_bytes(text(USER_HEADER, USERS))
        (root / "item_categories.csv").write_bytes(text("video_id,feat", CATEGORIES))
    return root


def problems_of(root: Path) -> list[Problem]:
    with pytest.raises(DataValidationError) as err:
        KuaiRec(root).validate()
    assert err.value.exit_code == 2
    return err.value.problems


# -------------------------------------------------------------------- reading
@pytest.mark.parametrize("compress", [False, True])
def test_small_matrix_hand_checked(tmp_path: Path, compress: bool) -> None:
    log = get_reader("kuairec")(write_kuairec(tmp_path, compress=compress)).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (2, 3, 4)
    assert log.users["raw_user_id"].tolist() == [14, 19]
    assert log.items["raw_item_id"].tolist() == [148, 183, 3649]
    assert log.feedback == (WATCH_RATIO, LIKE)
    df = log.interactions
    assert log.items.loc[df["item"], "raw_item_id"].tolist() == [148, 183, 3649, 148]
    assert df[TIMESTAMP].tolist() == pytest.approx(
        [1593898068.378, 1593898080.057, 1593870910.0, 1593879221.297]
    )
    assert df[WATCH_RATIO].tolist() == pytest.approx([0.722103, 1.907377, 2.104048, 2.153783])
    assert df[LIKE].tolist() == [0, 0, 1, 1]
    assert df["play_duration"].tolist() == [4381, 11635, 22864, 13067]
    assert "like = watch_ratio >= 2" in log.meta["notes"]


def test_side_features(tmp_path: Path) -> None:
    log = KuaiRec(write_kuairec(tmp_path)).read()
    assert log.items["categories"].tolist() == ["11", "27,9", "5,28,9"]
    assert log.users["user_active_degree"].tolist() == ["high_active", "full_active"]
    assert log.users["follow_user_num_range"].tolist() == ["(0,10]", "(250,500]"]
    assert log.users.loc[2, "register_days"] == 327.0


def test_like_threshold_option(tmp_path: Path) -> None:
    root = write_kuairec(tmp_path)
    reader = KuaiRec(root, like_threshold=1.5)
    assert reader.read().interactions[LIKE].tolist() == [0, 1, 1, 1]
    assert reader.options_key() != KuaiRec(root).options_key()


def test_big_matrix_in_package_folder(tmp_path: Path) -> None:
    write_kuairec(tmp_path / "KuaiRec 2.0" / "data", big=True, side=False)
    reader = get_reader("kuairec-big")(tmp_path)
    assert isinstance(reader, KuaiRecBig)
    log = reader.read()
    assert (log.n_users, log.n_interactions) == (3, 6)
    ts = log.interactions.loc[log.interactions["user"] == 3, TIMESTAMP].to_numpy()
    assert np.isnan(ts).all()  # empty and 'nan' timestamps are missing, not errors
    assert "2 rows without a timestamp" in log.meta["notes"]
    assert "KuaiRec 2.0/data/big_matrix.csv" in log.meta["source_files"]
    assert KuaiRec(tmp_path, matrix="big").read().n_interactions == 6
    with pytest.raises(InputError, match="matrix 'huge'"):
        KuaiRec(tmp_path, matrix="huge")


# --------------------------------------------------------------- missing files
def test_missing_matrix_named(tmp_path: Path) -> None:
    write_kuairec(tmp_path)
    with pytest.raises(InputError, match=re.escape("big_matrix.csv")):
        KuaiRecBig(tmp_path).read()
    (tmp_path / "small_matrix.csv").unlink()
    with pytest.raises(InputError, match=re.escape("small_matrix.csv")):
        KuaiRec(tmp_path).source_files()


# ------------------------------------------------------------- malformations
S = list(SMALL)
BAD_TIMESTAMP = S[1].replace("1593898080.057", "1e20")
BAD_TIME = S[1].replace("2020-07-05 05:28", "2020-17-05 05:28")


@pytest.mark.parametrize(
    ("data", "line", "field", "words"),
    [
        (text(HEADER, [S[0], S[1].replace(",", "\t"), S[2]]), 3, None, "wrong separator"),
        (text(HEADER, [S[0], S[1].rsplit(",", 1)[0], S[2]]), 3, None, "8 fields"),
        (text(HEADER, [S[0], S[1] + ",1", S[2]]), 3, None, "8 fields"),
        (text(HEADER, [S[0], "u14" + S[1][2:], S[2]]), 3, "user_id", "integer"),
        (text(HEADER, [S[0], BAD_TIMESTAMP, S[2]]), 3, "timestamp", "unix"),
        (text(HEADER, [S[0], BAD_TIME, S[2]]), 3, "time", "ISO"),
        (text(HEADER, [S[0], S[1].replace("1.907377", "-1"), S[2]]), 3, "watch_ratio", "number"),
        (text(HEADER, [S[0], S[1], S[2][:30]], end=""), 4, None, "truncated"),
        (text(HEADER, S).replace(b"183", b"1\xb03", 1), 3, None, "wrong encoding"),
        (text(HEADER, [S[0], HEADER, S[1]]), 3, None, "duplicate header"),
    ],
    ids=[
        "separator",
        "missing-field",
        "extra-field",
        "non-numeric-id",
        "bad-timestamp",
        "bad-time",
        "negative-ratio",
        "truncated",
        "encoding",
        "duplicate-header",
    ],
)  # fmt: skip
def test_malformed_matrix_line_named(
    tmp_path: Path, data: bytes, line: int, field: str | None, words: str
) -> None:
    p = problems_of(write_kuairec(tmp_path, small=data))[0]
    assert (p.file, p.line, p.field) == ("small_matrix.csv", line, field)
    assert words in str(p)


def test_side_file_problems_collected(tmp_path: Path) -> None:
    root = write_kuairec(tmp_path, small=text(HEADER, [S[0], "x" + S[1]]))
    cats = (*CATEGORIES[:2], '3649,"[5, x, 9]"')
    (root / "item_categories.csv").write_bytes(text("video_id,feat", cats))
    found = {(p.file, p.line, p.field) for p in problems_of(root)}
    assert found == {("small_matrix.csv", 3, "user_id"), ("item_categories.csv", 4, "feat")}


def test_truncated_categories_reported(tmp_path: Path) -> None:
    root = write_kuairec(tmp_path)
    cats = (*CATEGORIES[:2], '3649,"[5, 2')  # cut inside the quoted list, no newline
    (root / "item_categories.csv").write_bytes(text("video_id,feat", cats, end=""))
    p = problems_of(root)[0]
    assert (p.file, p.line) == ("item_categories.csv", 4)
    assert "truncated" in str(p)


def test_cli_validate_reports_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_kuairec(tmp_path, small=text(HEADER, [S[0], S[1] + ",1"]))
    assert main(["data", "validate", "kuairec", "--path", str(root)]) == 2
    assert "small_matrix.csv, line 3" in capsys.readouterr().err

"""KuaiRand readers on generated fixtures in the original formats (and the real tables)."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from rayrec.cli import main
from rayrec.data import get_reader
from rayrec.data.readers.kuairand import KuaiRand1K, KuaiRandPure, read_kuairand_features
from rayrec.data.schema import CLICK, LIKE, LONG_VIEW, TIMESTAMP, WATCH_RATIO
from rayrec.errors import DataValidationError, InputError, Problem

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

LOG_HEADER = (
    "user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,"
    "is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,"
    "comment_stay_time,is_profile_enter,is_rand,tab"
)
#: user 5 sees 200 (t=1649462400.5), 100, then 300; user 8 sees 200, 300, then the
#: randomly exposed 100. Watch ratios: 2.0, 0.025, 1.5, NaN (duration 0), 0.0, 0.1.
STANDARD_1: tuple[str, ...] = (
    "5,100,20220410,1200,1649563200000,1,0,0,0,0,0,1,20000,10000,0,0,0,0,1",
    "8,200,20220412,900,1649725200000,0,0,0,0,0,0,0,500,20000,0,0,0,0,2",
    "5,200,20220409,800,1649462400500,1,1,1,0,0,0,1,30000,20000,1200,0,1,0,1",
)
STANDARD_2: tuple[str, ...] = (
    "8,300,20220425,1000,1650852000000,1,0,0,1,1,0,1,5000,0,0,300,0,0,1",
    "5,300,20220501,1100,1651374000000,0,0,0,0,0,1,0,0,15000,0,0,0,0,0",
)
RANDOM: tuple[str, ...] = ("8,100,20220430,1300,1651294800000,0,0,0,0,0,0,0,1000,10000,0,0,0,1,4",)

USER_HEADER = (
    "user_id,user_active_degree,is_lowactive_period,is_live_streamer,is_video_author,"
    "follow_user_num,follow_user_num_range,fans_user_num,fans_user_num_range,"
    "friend_user_num,friend_user_num_range,register_days,register_days_range,"
    + ",".join(f"onehot_feat{k}" for k in range(18))
)
USER_ROWS: tuple[str, ...] = (
    '5,full_active,0,1,1,514,500+,150,"[100,1k)",34,"[30,60)",799,730+,'
    "1,1,29,949,1.0,0,0,14,135,6,3,0,0.0,1.0,0.0,0.0,0.0,0.0",
    '8,high_active,0,-124,0,457,"(250,500]",20,"[10,100)",3,"[1,5)",1474,730+,'
    "1,3,2,1160,,0,0,31,283,6,2,2,,,,,,",
    '9,UNKNOWN,0,-124,1,0,0,0,0,0,0,10,"15-30",0,1,2,3,4.0,5,0,7,8,1,1,1,1.0,0.0,1.0,0.0,0.0,0.0',
)
VIDEO_HEADER = (
    "video_id,author_id,video_type,upload_dt,upload_type,visible_status,video_duration,"
    "server_width,server_height,music_id,music_type,tag"
)
VIDEO_ROWS: tuple[str, ...] = (
    "100,7349781,NORMAL,2022-04-10,LongImport,0.0,87433.0,720.0,1280.0,9155697141,9.0,39",
    '200,2103883,AD,2022-04-10,Kmovie,0.0,,720.0,1280.0,6355810746,,"20,43"',
    "300,786360,NORMAL,2022-04-11,ShortImport,0.0,6466.0,1280.0,720.0,8146895282,4.0,",
)


def lines_text(header: str, rows: tuple[str, ...]) -> bytes:
    return ("\n".join((header, *rows)) + "\n").encode("utf-8")


def write_kuairand(
    root: Path,
    *,
    suffix: str = "pure",
    standard_1: bytes | None = None,
    with_random: bool = True,
    with_logs: bool = True,
    gzip_second: bool = False,
) -> Path:
    """KuaiRand files as published (``*_<suffix>.csv``); optionally gzip the 2nd log."""
    root.mkdir(parents=True, exist_ok=True)
    files = {
        f"user_features_{suffix}.csv": lines_text(USER_HEADER, USER_ROWS),
        f"video_features_basic_{suffix}.csv": lines_text(VIDEO_HEADER, VIDEO_ROWS),
    }
    if with_logs:
        files[f"log_standard_4_08_to_4_21_{suffix}.csv"] = (
            standard_1 if standard_1 is not None else lines_text(LOG_HEADER, STANDARD_1)
        )
        files[f"log_standard_4_22_to_5_08_{suffix}.csv"] = lines_text(LOG_HEADER, STANDARD_2)
        if with_random:
            files[f"log_random_4_22_to_5_08_{suffix}.csv"] = lines_text(LOG_HEADER, RANDOM)
    for name, data in files.items():
        if gzip_second and name.startswith("log_standard_4_22"):
            (root / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (root / name).write_bytes(data)
    return root


def problems_of(root: Path, reader: type[KuaiRandPure] = KuaiRandPure) -> list[Problem]:
    with pytest.raises(DataValidationError) as err:
        reader(root).validate()
    assert err.value.exit_code == 2
    return err.value.problems


# -------------------------------------------------------------------- reading
@pytest.mark.parametrize("gzip_second", [False, True])
def test_pure_fixture_hand_checked(tmp_path: Path, gzip_second: bool) -> None:
    log = get_reader("kuairand-pure")(write_kuairand(tmp_path, gzip_second=gzip_second)).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (2, 3, 6)
    assert log.users["raw_user_id"].tolist() == [5, 8]
    assert log.items["raw_item_id"].tolist() == [100, 200, 300]
    assert log.feedback == (
        CLICK,
        LIKE,
        "follow",
        "comment",
        "forward",
        "hate",
        LONG_VIEW,
        WATCH_RATIO,
    )
    df = log.interactions
    u5, u8 = df[df["user"] == 1], df[df["user"] == 2]
    assert log.items.loc[u5["item"], "raw_item_id"].tolist() == [200, 100, 300]
    assert log.items.loc[u8["item"], "raw_item_id"].tolist() == [200, 300, 100]
    assert u5[TIMESTAMP].tolist() == pytest.approx([1649462400.5, 1649563200.0, 1651374000.0])
    assert u5[CLICK].tolist() == [1, 1, 0]
    assert u5[LIKE].tolist() == [1, 0, 0]
    assert u5["follow"].tolist() == [1, 0, 0]
    assert u5["hate"].tolist() == [0, 0, 1]
    assert u8["comment"].tolist() == [0, 1, 0] and u8["forward"].tolist() == [0, 1, 0]
    assert u5[LONG_VIEW].tolist() == [1, 1, 0]
    assert u5[WATCH_RATIO].tolist() == pytest.approx([1.5, 2.0, 0.0])
    ratio8 = u8[WATCH_RATIO].to_numpy()
    assert ratio8[0] == pytest.approx(0.025) and np.isnan(ratio8[1]) and ratio8[2] == 0.1
    assert u8["is_rand"].tolist() == [0, 0, 1]
    assert u8["tab"].tolist() == [2, 1, 4]
    assert "duration_ms = 0" in log.meta["notes"]
    files = log.meta["source_files"]
    assert any(f.startswith("log_standard_4_22_to_5_08_pure.csv") for f in files)
    assert "log_random_4_22_to_5_08_pure.csv" in files


def test_features_joined(tmp_path: Path) -> None:
    log = KuaiRandPure(write_kuairand(tmp_path)).read()
    users, items = log.users, log.items
    assert len(users) == 2  # user 9 has no interaction: dropped
    assert users["user_active_degree"].tolist() == ["full_active", "high_active"]
    assert users["fans_user_num_range"].tolist() == ["[100,1k)", "[10,100)"]
    assert users.loc[1, "is_live_streamer"] == 1.0
    assert np.isnan(users.loc[2, "is_live_streamer"])  # -124 is missing
    assert np.isnan(users.loc[2, "onehot_feat4"])  # empty cell
    assert items["video_type"].tolist() == ["NORMAL", "AD", "NORMAL"]
    assert items["tag"].tolist() == ["39", "20,43", ""]
    assert np.isnan(items.loc[2, "video_duration"])
    assert items.loc[3, "video_duration"] == 6466.0


def test_random_log_optional(tmp_path: Path) -> None:
    root = write_kuairand(tmp_path / "a")
    assert KuaiRandPure(root, include_random=False).read().n_interactions == 5
    assert (
        KuaiRandPure(write_kuairand(tmp_path / "b", with_random=False)).read().n_interactions == 5
    )
    assert (
        KuaiRandPure(root).options_key() != KuaiRandPure(root, include_random=False).options_key()
    )


def test_1k_preset_in_data_subfolder(tmp_path: Path) -> None:
    write_kuairand(tmp_path / "KuaiRand-1K" / "data", suffix="1k")
    reader = get_reader("kuairand-1k")(tmp_path)
    assert isinstance(reader, KuaiRand1K)
    log = reader.read()
    assert log.n_interactions == 6 and log.name == "kuairand-1k"
    assert "KuaiRand-1K/data/log_standard_4_08_to_4_21_1k.csv" in log.meta["source_files"]
    # the Pure reader does not take the 1k files
    with pytest.raises(InputError, match=re.escape("log_standard_4_08_to_4_21_pure.csv")):
        KuaiRandPure(tmp_path).source_files()


def test_read_features_only(tmp_path: Path) -> None:
    users, videos = read_kuairand_features(write_kuairand(tmp_path, with_logs=False))
    assert users.index.tolist() == [5, 8, 9] and videos.index.tolist() == [100, 200, 300]
    assert int(users["is_live_streamer"].isna().sum()) == 2
    assert users.loc[9, "register_days_range"] == "15-30"


# --------------------------------------------------------------- missing files
def test_missing_logs_named(tmp_path: Path) -> None:
    root = write_kuairand(tmp_path, with_logs=False)
    with pytest.raises(InputError) as err:
        KuaiRandPure(root).read()
    message = str(err.value)
    assert "log_standard_4_08_to_4_21_pure.csv" in message
    assert "log_standard_4_22_to_5_08_pure.csv" in message
    assert "read_kuairand_features" in message


def test_missing_feature_table_named(tmp_path: Path) -> None:
    write_kuairand(tmp_path)
    (tmp_path / "video_features_basic_pure.csv").unlink()
    with pytest.raises(InputError, match=re.escape("video_features_basic_pure.csv")):
        read_kuairand_features(tmp_path)
    assert KuaiRandPure(tmp_path).read().items.columns.tolist() == ["raw_item_id"]


# ------------------------------------------------------------- malformations
def _log(rows: list[str], header: str = LOG_HEADER, end: str = "\n") -> bytes:
    return ("\n".join([header, *rows]) + end).encode("utf-8")


GOOD = list(STANDARD_1)
BAD_TIME = GOOD[1].replace("1649725200000", "2022-04-12")
BAD_CLICK = GOOD[1].replace(",0,0,0,0,0,0,0,500", ",2,0,0,0,0,0,0,500")


@pytest.mark.parametrize(
    ("data", "line", "field", "words"),
    [
        (_log([GOOD[0], GOOD[1].replace(",", ";"), GOOD[2]]), 3, None, "wrong separator"),
        (_log([GOOD[0], GOOD[1].rsplit(",", 1)[0], GOOD[2]]), 3, None, "19 fields"),
        (_log([GOOD[0], GOOD[1] + ",7", GOOD[2]]), 3, None, "19 fields"),
        (_log([GOOD[0], "u8" + GOOD[1][1:], GOOD[2]]), 3, "user_id", "integer"),
        (_log([GOOD[0], BAD_TIME, GOOD[2]]), 3, "time_ms", "unix"),
        (_log([GOOD[0], BAD_CLICK, GOOD[2]]), 3, "is_click", "in [0, 1]"),
        (_log([GOOD[0], GOOD[1], GOOD[2][:20]], end=""), 4, None, "truncated"),
        (_log([GOOD[0], GOOD[1], GOOD[2]]).replace(b"900", b"9\xff0"), 3, None, "wrong encoding"),
        (_log([GOOD[0], LOG_HEADER, GOOD[1]]), 3, None, "a data line"),
        (_log([GOOD[0]], header=LOG_HEADER.replace("time_ms", "time")), 1, "header", "time_ms"),
    ],
    ids=[
        "separator",
        "missing-field",
        "extra-field",
        "non-numeric-id",
        "bad-timestamp",
        "feedback-range",
        "truncated",
        "encoding",
        "duplicate-header",
        "misspelt-header",
    ],
)  # fmt: skip
def test_malformed_log_line_named(
    tmp_path: Path, data: bytes, line: int, field: str | None, words: str
) -> None:
    problems = problems_of(write_kuairand(tmp_path, standard_1=data))
    p = problems[0]
    assert (p.file, p.line, p.field) == ("log_standard_4_08_to_4_21_pure.csv", line, field)
    assert words in str(p)


def test_problems_of_every_file_reported(tmp_path: Path) -> None:
    bad_log = _log([GOOD[0], "x" + GOOD[1], GOOD[2]])
    root = write_kuairand(tmp_path, standard_1=bad_log)
    users = (root / "user_features_pure.csv").read_text().replace("\n8,", "\nabc,")
    (root / "user_features_pure.csv").write_text(users)
    found = {(p.file, p.line, p.field) for p in problems_of(root)}
    assert found == {
        ("log_standard_4_08_to_4_21_pure.csv", 3, "user_id"),
        ("user_features_pure.csv", 3, "user_id"),
    }
    with pytest.raises(DataValidationError, match=re.escape("user_features_pure.csv, line 3")):
        read_kuairand_features(root)


@pytest.mark.parametrize(
    ("rows", "end", "line", "field", "words"),
    [
        ((VIDEO_ROWS[0], VIDEO_ROWS[1][:-3]), "", 3, None, "truncated"),  # cut inside quotes
        ((VIDEO_ROWS[0], VIDEO_ROWS[1].rsplit(",", 3)[0]), "\n", 3, None, "12 fields"),
        ((VIDEO_ROWS[0], "v" + VIDEO_ROWS[1]), "\n", 3, "video_id", "integer"),
        ((VIDEO_ROWS[0], VIDEO_ROWS[1].replace(",", ";")), "\n", 3, None, "wrong separator"),
        ((VIDEO_ROWS[0], VIDEO_HEADER), "\n", 3, None, "duplicate header"),
    ],
    ids=["truncated-quote", "missing-field", "non-numeric-id", "separator", "duplicate-header"],
)
def test_malformed_feature_table(
    tmp_path: Path, rows: tuple[str, ...], end: str, line: int, field: str | None, words: str
) -> None:
    root = write_kuairand(tmp_path, with_logs=False)
    data = ("\n".join((VIDEO_HEADER, *rows)) + end).encode("utf-8")
    (root / "video_features_basic_pure.csv").write_bytes(data)
    with pytest.raises(DataValidationError) as err:
        read_kuairand_features(root)
    p = err.value.problems[0]
    assert (p.file, p.line, p.field) == ("video_features_basic_pure.csv", line, field)
    assert words in str(p)


def test_cli_validate_reports_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_kuairand(tmp_path, standard_1=_log([GOOD[0], GOOD[1] + ",7"]))
    assert main(["data", "validate", "kuairand-pure", "--path", str(root)]) == 2
    err = capsys.readouterr().err
    assert "log_standard_4_08_to_4_21_pure.csv, line 3" in err
    assert (
        main(["data", "validate", "kuairand-pure", "--path", str(write_kuairand(tmp_path / "ok"))])
        == 0
    )


# ----------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_feature_tables() -> None:
    root = SHARED_DATA / "kuairand-pure"
    if not root.is_dir():
        pytest.skip(f"real data not available: {root}")
    users, videos = read_kuairand_features(root)
    assert len(users) == 27_285 and len(videos) == 7_583
    assert users.index.min() == 0 and users.index.max() == 27_284
    assert users["user_active_degree"].value_counts()["full_active"] == 17_959
    assert videos["video_type"].value_counts().to_dict() == {
        "NORMAL": 7_506,
        "AD": 76,
        "UNKNOWN": 1,
    }
    # 21,127 cells coded -124 plus 5,158 empty cells are missing
    assert int(users.isna().sum().sum()) == 21_127 + 5_158
    assert int(users["is_live_streamer"].isna().sum()) == 21_127
    with pytest.raises(InputError, match=re.escape("log_standard_4_08_to_4_21_pure.csv")):
        KuaiRandPure(root).source_files()

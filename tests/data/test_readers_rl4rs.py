"""RL4RS readers on generated fixtures in the original formats (and the real item table)."""

from __future__ import annotations

import lzma
import re
from pathlib import Path

import numpy as np
import pytest

from rayrec.cli import main
from rayrec.data import get_reader
from rayrec.data.readers.rl4rs import RL4RS, VEC_COLUMNS, read_rl4rs_items
from rayrec.data.schema import CLICK, POSITION, SESSION, SLATE, TIMESTAMP
from rayrec.errors import DataValidationError, InputError, Problem

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

HEADER = (
    "timestamp@session_id@sequence_id@exposed_items@user_feedback@user_seqfeature@"
    "user_protrait@item_feature@behavior_policy_id"
)


def item_vectors(items: list[int]) -> str:
    """9 per-item vectors of 3 numbers, ``;``-joined (``i.0,i/10,-i``)."""
    return ";".join(f"{i}.0,{i / 10},-{i}" for i in items)


def row(
    ts: int, session: int, seq: int, items: list[int], fb: list[int], hist: str, pt: str
) -> str:
    return "@".join(
        (
            str(ts),
            str(session),
            str(seq),
            ",".join(map(str, items)),
            ",".join(map(str, fb)),
            hist,
            pt,
            item_vectors(items),
            "1",
        )
    )


#: session 1001 sees two slates (items 1..9 then 10..18), session 1002 one slate of odd
#: ids; 1002's slate is earlier in time but later in the file.
ROWS: tuple[str, ...] = (
    row(1586534945, 1001, 1, [*range(1, 10)], [1, 0, 0, 1, 0, 0, 0, 0, 0], "11,12,13", "0.5,1,-2"),
    row(1586534960, 1001, 2, [*range(10, 19)], [0, 0, 0, 0, 0, 0, 0, 0, 1], "11,12,13", "0.5,1,-2"),
    row(1586534000, 1002, 1, [*range(1, 18, 2)], [1, 1, 1, 0, 0, 0, 0, 0, 0], "5", "0.1,0.2,0.3"),
)


def vec(i: int) -> str:
    return ",".join(f"{(i * 7 + k) % 13 / 10 - 0.6:.4f}" for k in range(40))


#: item_info.csv: 19 items (19 never exposed), SPACE-separated, NO final newline.
ITEM_ROWS: tuple[str, ...] = tuple(
    f"{i} {vec(i)} {7.0 + i * 1.5:.1f} {1 + i % 3} {i % 2 * 2}" for i in range(1, 20)
)
ITEM_HEADER = "item_id item_vec price location special_item"


def log_bytes(rows: list[str] | tuple[str, ...] = ROWS, end: str = "\n") -> bytes:
    return ("\n".join([HEADER, *rows]) + end).encode("utf-8")


def item_bytes(rows: tuple[str, ...] = ITEM_ROWS) -> bytes:
    return "\n".join([ITEM_HEADER, *rows]).encode("utf-8")  # no final newline, as published


def write_rl4rs(
    root: Path,
    *,
    log: bytes | None = None,
    variant: str = "b_rl",
    items: bytes | None = None,
    with_log: bool = True,
    xz: bool = False,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "item_info.csv").write_bytes(item_bytes() if items is None else items)
    if with_log:
        data = log_bytes() if log is None else log
        name = f"rl4rs_dataset_{variant}.csv"
        if xz:
            (root / f"{name}.xz").write_bytes(lzma.compress(data))
        else:
            (root / name).write_bytes(data)
    return root


def problems_of(root: Path) -> list[Problem]:
    with pytest.raises(DataValidationError) as err:
        RL4RS(root).validate()
    assert err.value.exit_code == 2
    return err.value.problems


# -------------------------------------------------------------------- reading
@pytest.mark.parametrize("xz", [False, True])
def test_slates_hand_checked(tmp_path: Path, xz: bool) -> None:
    log = get_reader("rl4rs")(write_rl4rs(tmp_path, xz=xz)).read()
    assert (log.n_users, log.n_items, log.n_interactions) == (2, 18, 27)
    assert log.users["raw_user_id"].tolist() == [1001, 1002]
    assert log.items["raw_item_id"].tolist() == list(range(1, 19))  # 19 never shown
    assert log.feedback == (CLICK,)
    df = log.interactions
    assert df[SESSION].tolist() == [1] * 18 + [2] * 9
    assert df[SLATE].tolist() == [0] * 9 + [1] * 9 + [2] * 9
    assert df[POSITION].tolist() == list(range(9)) * 3
    raw_items = log.items.loc[df["item"], "raw_item_id"].tolist()
    assert raw_items == [*range(1, 19), *range(1, 18, 2)]
    assert df[CLICK].tolist()[:9] == [1, 0, 0, 1, 0, 0, 0, 0, 0]
    assert df[CLICK].tolist()[17] == 1 and df[CLICK].sum() == 6
    assert df[TIMESTAMP].tolist() == [1586534945.0] * 9 + [1586534960.0] * 9 + [1586534000.0] * 9
    assert df["sequence_id"].tolist() == [1] * 9 + [2] * 9 + [1] * 9
    assert (df["user"] == df[SESSION]).all()
    assert "no user id" in log.meta["notes"]


def test_features(tmp_path: Path) -> None:
    log = RL4RS(write_rl4rs(tmp_path)).read()
    users, items = log.users, log.items
    assert users.loc[1, "portrait"] == pytest.approx([0.5, 1.0, -2.0])
    assert users.loc[2, "history"] == [5]
    assert items.loc[3, "price"] == pytest.approx(7.0 + 3 * 1.5)
    assert items["location"].tolist()[:4] == [2, 3, 1, 2]
    assert items.loc[2, "special_item"] == 0 and items.loc[1, "special_item"] == 2
    assert list(items.columns[-40:]) == list(VEC_COLUMNS)
    assert items.loc[1, "vec_0"] == pytest.approx(float(vec(1).split(",")[0]))


def test_variants_and_log_file(tmp_path: Path) -> None:
    root = write_rl4rs(tmp_path, variant="a_sl")
    assert RL4RS(root, variant="a_sl").read().n_interactions == 27
    assert get_reader("rl4rs-a-sl")(root).read().meta["variant"] == "a_sl"
    with pytest.raises(InputError, match=r"rl4rs_dataset_b_rl\.csv.*found rl4rs_dataset_a_sl\.csv"):
        RL4RS(root).source_files()
    (root / "rl4rs_dataset_a_sl.csv").rename(root / "RL4RS_b_train.csv")
    assert RL4RS(root, log_file="RL4RS_b_train.csv").read().n_interactions == 27
    with pytest.raises(InputError, match="variant 'c_rl'"):
        RL4RS(root, variant="c_rl")


def test_read_items_only(tmp_path: Path) -> None:
    items = read_rl4rs_items(write_rl4rs(tmp_path / "raw_data", with_log=False).parent)
    assert items.index.tolist() == list(range(1, 20))
    assert items.shape == (19, 43)


# --------------------------------------------------------------- missing files
def test_missing_log_named(tmp_path: Path) -> None:
    root = write_rl4rs(tmp_path, with_log=False)
    with pytest.raises(InputError) as err:
        RL4RS(root).read()
    assert "rl4rs_dataset_b_rl.csv" in str(err.value)
    assert "read_rl4rs_items" in str(err.value)
    (root / "item_info.csv").unlink()
    with pytest.raises(InputError, match=re.escape("item_info.csv")):
        read_rl4rs_items(root)


# ------------------------------------------------------------- malformations
R = list(ROWS)
F = R[1].split("@")


def swap(field: int, value: str) -> str:
    fields = list(F)
    fields[field] = value
    return "@".join(fields)


BAD_ITEM_DIMS = swap(7, item_vectors(list(range(10, 19))).replace("10.0,1.0,-10;", "10.0,1.0;"))


@pytest.mark.parametrize(
    ("data", "line", "field", "words"),
    [
        (log_bytes([R[0], R[1].replace("@", "\t"), R[2]]), 3, None, "wrong separator"),
        (log_bytes([R[0], R[1].rsplit("@", 1)[0], R[2]]), 3, None, "9 fields"),
        (log_bytes([R[0], R[1] + "@7", R[2]]), 3, None, "9 fields"),
        (log_bytes([R[0], swap(1, "s1001"), R[2]]), 3, "session_id", "integer"),
        (log_bytes([R[0], swap(3, "10,x,12,13,14,15,16,17,18"), R[2]]), 3, "exposed_items", "int"),
        (log_bytes([R[0], swap(3, "10,11,12,13,14,15,16"), R[2]]), 3, "exposed_items", "exactly 9"),
        (log_bytes([R[0], swap(4, "0,0,0,0,0,0,0,0,2"), R[2]]), 3, "user_feedback", "0/1"),
        (log_bytes([R[0], swap(6, "0.5,one"), R[2]]), 3, "user_protrait", "numbers"),
        (log_bytes([R[0], swap(7, "1,2;3,4"), R[2]]), 3, "item_feature", "9 per-item vectors"),
        (log_bytes([R[0], BAD_ITEM_DIMS, R[2]]), 3, "item_feature", "one length"),
        (log_bytes([R[0], swap(0, "2020-04-10 12:00"), R[2]]), 3, "timestamp", "unix"),
        (log_bytes([R[0], R[1], R[2][:40]], end=""), 4, None, "truncated"),
        (log_bytes().replace(b"1002@1", b"1002@\xe9"), 4, None, "wrong encoding"),
        (log_bytes([R[0], HEADER, R[1]]), 3, None, "duplicate header"),
    ],
    ids=[
        "separator",
        "missing-field",
        "extra-field",
        "non-numeric-id",
        "non-numeric-item",
        "slate-length",
        "feedback-not-binary",
        "portrait",
        "item-feature-count",
        "item-feature-dims",
        "bad-timestamp",
        "truncated",
        "encoding",
        "duplicate-header",
    ],
)  # fmt: skip
def test_malformed_log_line_named(
    tmp_path: Path, data: bytes, line: int, field: str | None, words: str
) -> None:
    p = problems_of(write_rl4rs(tmp_path, log=data))[0]
    assert (p.file, p.line, p.field) == ("rl4rs_dataset_b_rl.csv", line, field)
    assert words in str(p)


def test_item_info_problems(tmp_path: Path) -> None:
    rows = list(ITEM_ROWS)
    rows[2] = rows[2].replace(vec(3), vec(3).rsplit(",", 1)[0])  # 39 numbers
    rows[4] = "x" + rows[4]  # item id 'x5'
    root = write_rl4rs(tmp_path, items=item_bytes(tuple(rows)), log=log_bytes([R[0], swap(1, "s")]))
    found = {(p.file, p.line, p.field) for p in problems_of(root)}
    assert ("item_info.csv", 4, "item_vec") in found
    assert ("item_info.csv", 6, "item_id") in found
    assert ("rl4rs_dataset_b_rl.csv", 3, "session_id") in found
    with pytest.raises(DataValidationError, match=re.escape("item_info.csv, line 4")):
        read_rl4rs_items(root)


def test_cli_validate_reports_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_rl4rs(tmp_path, log=log_bytes([R[0], swap(4, "1,1")]))
    assert main(["data", "validate", "rl4rs", "--path", str(root)]) == 2
    err = capsys.readouterr().err
    assert "rl4rs_dataset_b_rl.csv, line 3: field 'user_feedback'" in err


# ----------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_item_table() -> None:
    root = SHARED_DATA / "rl4rs"
    if not root.is_dir():
        pytest.skip(f"real data not available: {root}")
    items = read_rl4rs_items(root)
    assert len(items) == 283 and items.index.tolist() == list(range(1, 284))
    assert items["location"].value_counts().sort_index().tolist() == [39, 108, 136]
    assert items["special_item"].value_counts().sort_index().tolist() == [164, 6, 113]
    assert (items["price"].min(), items["price"].max()) == (7.0, 1478.1)
    assert items.loc[1, "vec_0"] == pytest.approx(-0.2137)
    assert np.isfinite(items[list(VEC_COLUMNS)].to_numpy()).all()
    with pytest.raises(InputError, match=re.escape("rl4rs_dataset_b_rl.csv")):
        RL4RS(root).source_files()

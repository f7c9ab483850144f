"""Small MovieLens folders in the exact original formats (ML-1M, its folds, ML-100K)."""

from __future__ import annotations

import gzip
import lzma
import zipfile
from pathlib import Path

# (user, movie, rating, timestamp) — user 1 rates 3 movies, user 2 rates 2, user 10 one.
RATINGS = [
    (1, 1193, 5, 978300760),
    (1, 661, 3, 978302109),
    (1, 914, 3, 978301968),
    (2, 1193, 4, 978298413),
    (2, 3408, 4, 978299000),
    (10, 661, 1, 978200000),
]
USERS = ["1::F::1::10::48067", "2::M::56::16::70072", "10::F::35::1::95370"]
MOVIES = [
    "661::James and the Giant Peach (1996)::Animation|Children's|Musical",
    "914::My Fair Lady (1964)::Musical|Romance",
    "1193::One Flew Over the Cuckoo's Nest (1975)::Drama",
    "3408::Erin Brockovich (2000)::Drama",
    "3952::Contender, The (2000)::Drama|Thriller",
]


def ratings_text(rows: list[tuple[int, int, int, int]] = RATINGS) -> str:
    return "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows)


def write_ml1m(root: Path, *, compression: str | None = None, ratings: str | None = None) -> Path:
    """Write ratings.dat (optionally compressed), users.dat and movies.dat (latin-1)."""
    root.mkdir(parents=True, exist_ok=True)
    data = (ratings if ratings is not None else ratings_text()).encode("latin-1")
    if compression is None:
        (root / "ratings.dat").write_bytes(data)
    elif compression == "gz":
        (root / "ratings.dat.gz").write_bytes(gzip.compress(data))
    elif compression == "xz":
        (root / "ratings.dat.xz").write_bytes(lzma.compress(data))
    elif compression == "zip":
        with zipfile.ZipFile(root / "ratings.dat.zip", "w") as zf:
            zf.writestr("ml-1m/ratings.dat", data)
    (root / "users.dat").write_bytes(("\n".join(USERS) + "\n").encode("latin-1"))
    (root / "movies.dat").write_bytes(("\n".join(MOVIES) + "\n").encode("latin-1"))
    return root


def write_folds(root: Path) -> Path:
    """Five comma-separated fold files under siren-5fold/ plus users/movies beside it."""
    write_ml1m(root)
    (root / "ratings.dat").unlink()
    folds = root / "siren-5fold"
    folds.mkdir()
    for k in range(5):
        rows = [r for j, r in enumerate(RATINGS) if j % 5 == k]
        (folds / f"test_1m{k + 1}.dat").write_text("".join(f"{u},{i},{r}\n" for u, i, r, _ in rows))
    return root


def write_ml100k(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "u.data").write_text(
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t4\t881250950\n"
    )
    (root / "u.user").write_text("186|39|F|executive|00000\n196|49|M|writer|55105\n")
    genres = ["0"] * 19
    g1 = genres.copy()
    g1[5] = "1"
    g2 = genres.copy()
    g2[8] = "1"
    g2[5] = "1"
    lines = [
        "242|Kolya (1996)|24-Jan-1997||http://us.imdb.com/M/title-exact?Kolya%20(1996)|"
        + "|".join(g1),
        "302|L.A. Confidential (1997)|01-Jan-1997||http://us.imdb.com/x|" + "|".join(g2),
    ]
    (root / "u.item").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return root

"""Click data with a social network, in memory and in the SPF authors' folder layout.

The reference implementation of Social Poisson Factorization (github.com/ajbc/spf) reads a
folder of four tab-separated files:

* ``train.tsv``, ``validation.tsv``, ``test.tsv``: ``user<TAB>item<TAB>rating`` per line
  (integer ids; a non-zero rating is a click);
* ``network.tsv``: ``user<TAB>friend`` per line (the friend's clicks may lift the user's).

:func:`read_folder` and :func:`write_folder` read and write that layout, so the same data can
go through their C++ code and through ``python -m course spf DIR``. :func:`from_town` turns
the lesson's town into it and :func:`load_filmtrust` builds it from the FilmTrust ratings and
trust links (downloaded or mirrored by ``course.datasets``, checksums verified).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from .world.social import TEST, TRAIN, VALIDATION, SocialTown, split_clicks

__all__ = ["SocialData", "FILES", "read_folder", "write_folder", "from_town",
           "load_filmtrust", "reference_candidates"]

FILES = ("train.tsv", "validation.tsv", "test.tsv", "network.tsv")


@dataclass
class SocialData:
    """Clicks in three parts and a network, indexed 0..U-1 and 0..I-1.

    Attributes:
        train, validation, test: (U, I) CSR counts.
        network: (U, U) CSR, 1 at [u, v] when friend v's clicks may lift u's rates.
        user_ids: (U,) the original id of each user; item_ids: (I,) of each item.
    """

    train: sp.csr_matrix
    validation: sp.csr_matrix
    test: sp.csr_matrix
    network: sp.csr_matrix
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.train.shape

    def describe(self) -> dict:
        return {"users": int(self.shape[0]), "items": int(self.shape[1]),
                "train_clicks": int(self.train.nnz), "validation_clicks": int(self.validation.nnz),
                "test_clicks": int(self.test.nnz), "links": int(self.network.nnz)}


def _parse(path: Path, n_fields: int) -> np.ndarray:
    """(n, n_fields) float array of a tab-separated file; ``ValueError`` naming file:line."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file (a data folder holds {', '.join(FILES)})")
    rows = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            fields = line.split()
            try:
                if len(fields) != n_fields:
                    raise ValueError(f"expected {n_fields} tab-separated fields, got {len(fields)}")
                values = [int(x) for x in fields[:2]] + [float(x) for x in fields[2:]]
                if min(values[:2]) < 0:
                    raise ValueError("ids must be non-negative integers")
                if n_fields == 3 and not (np.isfinite(values[2]) and values[2] >= 0):
                    raise ValueError(f"a rating must be a non-negative count, got {fields[2]}")
            except ValueError as err:
                raise ValueError(f"{path}:{number}: {err}: {line.strip()[:60]!r}") from None
            rows.append(values)
    return np.array(rows, dtype=float).reshape(-1, n_fields)


def _index(ids: np.ndarray, known: np.ndarray) -> np.ndarray:
    return np.searchsorted(known, ids)


def read_folder(path: str | Path) -> SocialData:
    """Read a folder in the SPF authors' layout (see the module docstring).

    Users and items are every id that appears in the three rating files; rows with a zero
    rating are dropped (as in the reference). Raises ``ValueError`` naming the file and line
    for a malformed line, a negative or non-numeric rating, or a network line naming a user
    who appears in no rating file.
    """
    path = Path(path)
    parts = [_parse(path / name, 3) for name in FILES[:3]]
    links = _parse(path / FILES[3], 2).astype(np.int64)
    everything = np.concatenate(parts)
    user_ids = np.unique(everything[:, 0].astype(np.int64))
    item_ids = np.unique(everything[:, 1].astype(np.int64))
    unknown = ~np.isin(links, user_ids).all(axis=1)
    if unknown.any():
        line = _nth_nonblank_line(path / FILES[3], int(np.argmax(unknown)))
        bad = [int(x) for x in links[np.argmax(unknown)] if x not in set(user_ids.tolist())]
        raise ValueError(f"{path / FILES[3]}:{line}: user {bad[0]} appears in no rating file")
    shape = (user_ids.size, item_ids.size)

    def matrix(rows: np.ndarray) -> sp.csr_matrix:
        rows = rows[rows[:, 2] > 0]
        m = sp.csr_matrix((rows[:, 2], (_index(rows[:, 0].astype(np.int64), user_ids),
                                        _index(rows[:, 1].astype(np.int64), item_ids))), shape=shape)
        m.sum_duplicates()
        return m

    u, v = _index(links[:, 0], user_ids), _index(links[:, 1], user_ids)
    keep = u != v
    network = sp.csr_matrix((np.ones(keep.sum()), (u[keep], v[keep])), shape=(shape[0],) * 2)
    network.sum_duplicates()
    network.data[:] = 1.0
    return SocialData(*(matrix(p) for p in parts), network, user_ids, item_ids)


def _nth_nonblank_line(path: Path, n: int) -> int:
    with open(path, encoding="utf-8") as f:
        seen = -1
        for number, line in enumerate(f, start=1):
            seen += bool(line.strip())
            if seen == n:
                return number
    return n + 1


def write_folder(data: SocialData, path: str | Path) -> Path:
    """Write ``data`` in the authors' layout (creating the folder); returns the folder."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    for name, m in zip(FILES[:3], (data.train, data.validation, data.test)):
        coo = sp.csr_matrix(m).tocoo()
        counts = np.rint(coo.data).astype(np.int64)
        if not np.allclose(counts, coo.data):
            raise ValueError(f"{name}: the reference layout holds integer ratings")
        table = np.column_stack([data.user_ids[coo.row], data.item_ids[coo.col], counts])
        np.savetxt(path / name, table, fmt="%d", delimiter="\t")
    net = sp.csr_matrix(data.network).tocoo()
    np.savetxt(path / FILES[3], np.column_stack([data.user_ids[net.row], data.user_ids[net.col]]),
               fmt="%d", delimiter="\t")
    return path


def from_town(st: SocialTown) -> SocialData:
    """The town's clicks and (undirected, both directions written) network."""
    return SocialData(st.clicks(TRAIN), st.clicks(VALIDATION), st.clicks(TEST),
                      sp.csr_matrix(st.network), np.arange(st.n_users), np.arange(st.n_items))


def reference_candidates(data: SocialData) -> tuple[np.ndarray, np.ndarray]:
    """The reference evaluation's (relevant, candidates), both (U, I) bool.

    As in the authors' ``eval.cpp``: test clicks count only for users and items seen in
    training and not already clicked in training or validation; each user's candidates are
    the items that appear in the (remaining) test set, minus their training and validation
    items.
    """
    seen = (data.train + data.validation).toarray() > 0
    known_user = np.diff(data.train.indptr) > 0
    known_item = np.asarray((data.train > 0).sum(axis=0)).ravel() > 0
    relevant = (data.test.toarray() > 0) & ~seen & known_user[:, None] & known_item[None, :]
    in_test = relevant.any(axis=0)
    return relevant, in_test[None, :] & ~seen


def load_filmtrust(seed: int = 0, threshold: float = 3.5,
                   shares: tuple[float, float, float] = (0.89, 0.01, 0.10)) -> SocialData:
    """FilmTrust (Guo, Zhang & Yorke-Smith, IJCAI 2013) as clicks and trust links.

    Ratings of at least ``threshold`` (of 4) are clicks; each user's clicks are split
    ``shares`` = (train, validation, test) at random (seed ``seed``), as in the SPF authors'
    script. A trust link (trustor -> trustee: the trustee's clicks may lift the trustor's)
    is kept when both users have clicks and share a clicked item, as their script culls the
    network (it looks at all clicks, held-out ones included).

    Raises:
        course.datasets.DatasetUnavailable: no mirror, no cache and no network.
    """
    from .datasets import fetch

    files = fetch("filmtrust", ["ratings.txt", "trust.txt"])
    ratings = np.loadtxt(files["ratings.txt"], ndmin=2)
    trust = np.loadtxt(files["trust.txt"], ndmin=2).astype(np.int64)
    clicks = ratings[ratings[:, 2] >= threshold][:, :2].astype(np.int64)
    clicks = np.unique(clicks, axis=0)  # the file repeats one (user, item) pair
    user_ids, user = np.unique(clicks[:, 0], return_inverse=True)
    item_ids, item = np.unique(clicks[:, 1], return_inverse=True)
    U, I = user_ids.size, item_ids.size
    part = split_clicks(user, shares, np.random.default_rng(seed))
    parts = [sp.csr_matrix((np.ones((part == p).sum()), (user[part == p], item[part == p])),
                           shape=(U, I)) for p in (TRAIN, VALIDATION, TEST)]
    links = trust[np.isin(trust[:, :2], user_ids).all(axis=1) & (trust[:, 0] != trust[:, 1])]
    u, v = np.searchsorted(user_ids, links[:, 0]), np.searchsorted(user_ids, links[:, 1])
    everything = sp.csr_matrix((np.ones(user.size), (user, item)), shape=(U, I))
    shared = np.asarray(everything[u].multiply(everything[v]).sum(axis=1)).ravel() > 0
    network = sp.csr_matrix((np.ones(shared.sum()), (u[shared], v[shared])), shape=(U, U))
    network.sum_duplicates()
    network.data[:] = 1.0
    return SocialData(*parts, network, user_ids, item_ids)

"""course.datasets: mirror, cache and download, each checked by SHA-256, and a clear error
when a dataset cannot be had. Small files in a temp dir stand in for the real ones."""
from __future__ import annotations

import hashlib
import json
import os

import pytest

from course import datasets
from course.lessons import ROOT

CONTENT = b'{"statement": "I like tests", "answer_matching_behavior": " Yes"}\n'


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A registry with one dataset of one file served from a file:// URL."""
    source = tmp_path / "upstream" / "a.jsonl"
    source.parent.mkdir()
    source.write_bytes(CONTENT)
    entry = {"file": "a.jsonl", "bytes": len(CONTENT),
             "sha256": hashlib.sha256(CONTENT).hexdigest(), "url": source.as_uri()}
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({"tiny": {"license": "CC0", "files": [entry]}}))
    monkeypatch.setattr(datasets, "REGISTRY_PATH", registry)
    monkeypatch.setenv("COURSE_DATA_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("COURSE_DATA_MIRROR", raising=False)
    return tmp_path, source


def test_mirror_is_read_and_checked(tiny, monkeypatch):
    tmp, source = tiny
    (tmp / "mirror" / "tiny").mkdir(parents=True)
    (tmp / "mirror" / "tiny" / "a.jsonl").write_bytes(CONTENT)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp / "mirror"))
    source.unlink()  # no download possible: the mirror must be used
    assert datasets.fetch("tiny")["a.jsonl"] == tmp / "mirror" / "tiny" / "a.jsonl"


def test_corrupted_mirror_file_is_rejected(tiny, monkeypatch):
    tmp, _ = tiny
    (tmp / "mirror" / "tiny").mkdir(parents=True)
    (tmp / "mirror" / "tiny" / "a.jsonl").write_bytes(CONTENT.replace(b"Yes", b"No!"))
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp / "mirror"))
    with pytest.raises(datasets.DatasetUnavailable, match="SHA-256"):
        datasets.fetch("tiny")


def test_download_goes_to_the_cache_and_is_reused(tiny):
    tmp, source = tiny
    path = datasets.fetch("tiny")["a.jsonl"]
    assert path == tmp / "cache" / "tiny" / "a.jsonl" and path.read_bytes() == CONTENT
    source.unlink()
    assert datasets.fetch("tiny")["a.jsonl"] == path, "a verified cached file needs no network"


def test_corrupted_download_is_discarded(tiny):
    tmp, source = tiny
    source.write_bytes(b"tampered")
    with pytest.raises(datasets.DatasetUnavailable, match="SHA-256"):
        datasets.fetch("tiny")
    assert not (tmp / "cache" / "tiny" / "a.jsonl").exists(), "a bad file must not stay cached"


def test_absent_everywhere_gives_a_clear_error(tiny):
    _, source = tiny
    source.unlink()
    with pytest.raises(datasets.DatasetUnavailable, match="COURSE_DATA_MIRROR"):
        datasets.fetch("tiny")
    with pytest.raises(datasets.DatasetUnavailable, match="unknown dataset"):
        datasets.fetch("nope")
    with pytest.raises(datasets.DatasetUnavailable, match="no file"):
        datasets.fetch("tiny", ["b.jsonl"])


def test_registry_entries_are_pinned_and_carded():
    reg = json.loads((ROOT / "datasets" / "registry.json").read_text())
    for name, info in reg.items():
        assert (ROOT / info["card"]).exists(), f"{name} needs a data card"
        for entry in info["files"]:
            assert len(entry["sha256"]) == 64 and "/raw.githubusercontent.com/" in entry["url"]
            assert entry["url"].split("/")[5] != "main", "URLs must be pinned to a commit"


def test_real_data_analysis_on_the_mirror():
    if not os.environ.get("COURSE_DATA_MIRROR"):
        pytest.skip("COURSE_DATA_MIRROR is not set (CI sets it to ../shared/datasets); "
                    "the real-data analysis runs only on a local mirror in tests")
    from course import uncertainty

    real = uncertainty.persona_statements(seed=0, ks=(0, 16))
    assert real["accuracy"][0] < 0.56, "with no trait revealed the judge should be near chance"
    assert real["accuracy"][1] > real["accuracy"][0] + 0.1, "revealed traits should help"

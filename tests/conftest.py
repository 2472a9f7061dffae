"""Shared fixtures: a real archive file in a temporary directory."""

from __future__ import annotations

import os

import pytest

# Tesseract's OpenMP threads fight our worker processes on 2 cores (see ocr-study.md).
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@pytest.fixture
def no_user_config(tmp_path, monkeypatch):
    """Keep the user's real config and data out of tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("TGMONITOR_CONFIG", raising=False)
    monkeypatch.delenv("TGMONITOR_DB", raising=False)
    return tmp_path

"""Where medsyn finds what is shared beside a checkout (medsyn.paths)."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_one_setting_names_every_shared_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A checkout anywhere (say /tmp) finds the data, wheels and KubeRay CRDs through MEDSYN_SHARED alone."""
    from medsyn.paths import default_data_dir, shared_path

    (tmp_path / "data").mkdir()
    for name in ("MEDSYN_DATA_DIR", "MEDSYN_WHEELS", "MEDSYN_KUBERAY_CRDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEDSYN_SHARED", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert default_data_dir() == tmp_path / "data"
    assert shared_path("kuberay/crds", "MEDSYN_KUBERAY_CRDS") == tmp_path / "kuberay" / "crds"
    monkeypatch.setenv("MEDSYN_KUBERAY_CRDS", "/elsewhere/crds")  # each location may still be set alone
    assert shared_path("kuberay/crds", "MEDSYN_KUBERAY_CRDS") == Path("/elsewhere/crds")

"""A full disk under the warehouse, or under the site and reports, fails the run clearly and keeps
the previous warehouse, site and reports whole.

Real disks: a finished run is copied onto a small tmpfs (mounted here, so the test needs root,
like CI) that a filler file leaves with ~400 KB free. The next `python -m assets.run` must fail
with "No space left on device" in its log; afterwards the warehouse opens with the finished run's
rows, every page is the previous complete file (pages are staged whole before any replaces its
predecessor), each PDF is the previous or a complete new one, and a run with room again completes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pypdf import PdfReader

from pipeline import warehouse
from tests.assets.test_faults import _env, _run, _state, finished  # noqa: F401  (module fixture: a finished run)
from tests.conftest import Sandbox

pytestmark = pytest.mark.slow
FREE_BYTES = 400_000


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    """A tmpfs mounted at tmp_path/disk, unmounted afterwards; skipped where mounting is not allowed."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=160m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root, as in CI): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def _fill(mount_point: Path) -> None:
    """Leave FREE_BYTES free on the tmpfs."""
    free = shutil.disk_usage(mount_point).free
    with open(mount_point / "filler", "wb") as handle:
        os.posix_fallocate(handle.fileno(), 0, free - FREE_BYTES)



@pytest.mark.parametrize("full", ["warehouse", "outputs"])
def test_full_disk_fails_clearly_and_keeps_the_previous_outputs(finished, small_disk, tmp_path, full):
    box, home, before = finished
    placed = box.copy_to(tmp_path / "box")
    if full == "warehouse":  # the warehouse on the small disk, outputs on the normal one
        shutil.move(placed.warehouse, small_disk / "vault.duckdb")
        placed = Sandbox(root=placed.root, warehouse=small_disk / "vault.duckdb", site_dir=placed.site_dir,
                         reports_dir=placed.reports_dir, portfolio=placed.portfolio)
    else:  # site and reports on the small disk; the warehouse has room
        shutil.move(placed.site_dir, small_disk / "site")
        shutil.move(placed.reports_dir, small_disk / "reports")
        placed = Sandbox(root=placed.root, warehouse=placed.warehouse, site_dir=small_disk / "site",
                         reports_dir=small_disk / "reports", portfolio=placed.portfolio)
    pages_before = {p.name: p.read_bytes() for p in placed.site_dir.glob("*.html")}
    reports_before = {p.name: p.read_bytes() for p in placed.reports_dir.glob("*.pdf")}
    _fill(small_disk)

    done = subprocess.run([sys.executable, "-m", "assets.run"], cwd=Path(__file__).resolve().parents[2],
                          env=_env(placed, home), capture_output=True, text=True, timeout=600)
    assert done.returncode != 0
    log = done.stdout + done.stderr
    assert "No space left on device" in log
    assert "no transaction is active" not in log  # the real error is reported, not the rollback's

    assert _state(placed) == before
    assert {p.name: p.read_bytes() for p in placed.site_dir.glob("*.html")} == pages_before
    for name, data in reports_before.items():  # the previous PDF, or a complete new one (it is small)
        pdf = placed.reports_dir / name
        assert len(PdfReader(pdf).pages) == len(PdfReader(io.BytesIO(data)).pages)
    assert not [p for p in placed.site_dir.parent.rglob("*staging*")]  # no staging left behind

    (small_disk / "filler").unlink()
    again = _run(placed, home)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _state(placed) == before
    with warehouse.open_warehouse(placed.warehouse, read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM analytics.ltv_daily").fetchone()[0] == 191

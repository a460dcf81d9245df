"""The audit trail: each run exports the figures the site and the PDFs show, so any number can be traced.

`build/audit/<as_of>/` (or `$VAULT_AUDIT_DIR/<as_of>/`) gets one Parquet file per published table or
view (AUDITED) and `manifest.json`:

    {"as_of": ..., "run_id": ..., "methodology_version": ..., "code_version": ..., "written_at": ...,
     "tables": [{"table": "analytics.ltv_daily", "file": "analytics.ltv_daily.parquet", "rows": 191,
                 "sha256": "...", "run_ids": [...]}, ...]}

A figure on the page traces back to a row of a file whose sha256 the manifest pins, to the run that
wrote the row (`run_id` column) and to the rules that computed it (`methodology_version` column,
changelog in docs/methodology.md). The folder is written whole: staged beside it, then swapped in by
rename; a previous export of the same day is removed only once the new one is in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Final

import duckdb

from pipeline.methodology import METHODOLOGY_VERSION
from pipeline.paths import PROJECT_ROOT

AUDITED: Final = (
    "analytics.ltv_daily", "analytics.positions_daily", "analytics.chain_latest", "analytics.vol_surface_daily",
    "analytics.strategy_comparison_latest", "analytics.order_preview", "analytics.strategy_scenarios",
    "analytics.strategy_payoff", "analytics.strategy_recommendation", "analytics.strategy_sensitivity",
    "analytics.protection_signal", "analytics.tail_risk_daily", "analytics.protection_cost_index",
    "analytics.alerts", "raw.ingest_status",
)
"""What the site and the PDFs show: whole tables, or the views the pages read (latest chain, comparison)."""
PER_DAY: Final = frozenset({"analytics.order_preview", "analytics.strategy_scenarios", "analytics.strategy_payoff",
                            "analytics.strategy_recommendation", "analytics.strategy_sensitivity"})
"""Strategy tables exported for the comparison's day only (the one the pages show)."""


def code_version() -> str:
    """`git describe --always --dirty` of the checkout, else the package version."""
    try:
        done = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10, check=True)
        return done.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"vault-dashboard {version('vault-dashboard')}"
        except PackageNotFoundError:
            return "unknown"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_audit(conn: duckdb.DuckDBPyConnection, as_of: date, out_dir: Path, run_id: str) -> Path:
    """Write `out_dir/<as_of>/` (Parquet per AUDITED table + manifest.json); return the folder."""
    strategy_day = conn.execute("SELECT max(as_of) FROM analytics.strategy_comparison").fetchall()[0][0]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / as_of.isoformat()
    staging = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{as_of.isoformat()}.staging-"))
    try:
        entries = []
        for table in AUDITED:
            frame = conn.sql(f"SELECT * FROM {table}" + (" WHERE as_of = ?" if table in PER_DAY else ""),
                             params=[strategy_day] if table in PER_DAY else None).pl()
            file_name = f"{table}.parquet"
            frame.write_parquet(staging / file_name)
            run_ids = sorted(frame["run_id"].unique().drop_nulls().to_list()) if "run_id" in frame.columns else []
            entries.append({"table": table, "file": file_name, "rows": frame.height,
                            "sha256": _sha256(staging / file_name), "run_ids": run_ids})
        manifest = {"as_of": as_of.isoformat(), "run_id": run_id, "methodology_version": METHODOLOGY_VERSION,
                    "code_version": code_version(), "written_at": datetime.now(timezone.utc).isoformat(),
                    "tables": entries}
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.chmod(staging, 0o755)
        if target.exists():
            retired = out_dir / f".{as_of.isoformat()}.retired-{os.getpid()}"
            target.rename(retired)
            staging.rename(target)
            shutil.rmtree(retired)
        else:
            staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target

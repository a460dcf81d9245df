"""deploy/'s systemd units and cron file say what docs/deploy.md says, and agree with the code.

The timer must fire at the Dagster schedule's cron ticks, checked tick by tick across the DST
changes with systemd's own calendar arithmetic (the schedule then skips NYSE holidays; the timer
does not, harmlessly). Every unit must start a program this checkout's venv has, and every way of
running the pipeline must write to the same warehouse and site that Caddy serves.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from assets.schedules import daily_refresh_schedule

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = PROJECT_ROOT / "deploy"
SYSTEMD = DEPLOY / "systemd"
CRON_FILE = DEPLOY / "cron" / "vault-dashboard"
CADDY_ENV_EXAMPLE = DEPLOY / "caddy.env.example"
# The units that run pipeline code: one environment for all of them.
PIPELINE_UNITS = ("vault-dagster-daemon.service", "vault-dagster-webserver.service", "vault-daily.service")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")  # cron numbers them 0..6


def unit_settings(path: Path) -> dict[str, list[str]]:
    """`Key=value` lines of a unit file, every value of a repeated key in order (sections ignored:
    the keys used here occur in one section only)."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_environment(path: Path) -> dict[str, str]:
    return dict(assignment.split("=", 1) for assignment in unit_settings(path)["Environment"])


def cron_lines(path: Path) -> tuple[dict[str, str], list[list[str]]]:
    """The variables and the jobs (fields split on whitespace, the command kept whole) of a cron.d file."""
    variables, jobs = {}, []
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            name, value = line.split("=", 1)
            variables[name] = value
        else:
            jobs.append(line.split(None, 6))
    return variables, jobs


def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if line.strip() and not line.startswith("#"))


def test_the_timer_has_the_schedules_weekdays_time_and_zone() -> None:
    minute, hour, day, month, weekdays = daily_refresh_schedule.cron_schedule.split()
    first, last = (int(number) for number in weekdays.split("-"))
    expected = (f"{WEEKDAYS[first]}..{WEEKDAYS[last]} {int(hour):02}:{int(minute):02} "
                f"{daily_refresh_schedule.execution_timezone}")

    assert (day, month) == ("*", "*")
    assert unit_settings(SYSTEMD / "vault-daily.timer")["OnCalendar"] == [expected]


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian package systemd)")
@pytest.mark.parametrize("base", ["2026-03-04 12:00:00", "2026-10-28 12:00:00"], ids=["march-dst", "november-dst"])
def test_the_timer_fires_at_the_schedules_ticks_across_dst(base: str) -> None:
    """systemd's next elapses of OnCalendar against Dagster's next ticks of the cron schedule."""
    from dagster._utils.schedules import cron_string_iterator  # the schedule's own tick arithmetic

    (on_calendar,) = unit_settings(SYSTEMD / "vault-daily.timer")["OnCalendar"]
    result = subprocess.run([SYSTEMD_ANALYZE, "calendar", "--iterations=10", f"--base-time={base} UTC",
                             on_calendar], capture_output=True, text=True, timeout=30, check=True,
                            env={"TZ": "UTC", "PATH": "/usr/bin:/bin"})
    systemd_ticks = [datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc) for stamp in
                     re.findall(r"(?:Next elapse|Iter\. #\d+): \w{3} (\S+ \S+) UTC", result.stdout)]
    start = datetime.strptime(base, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    ticks = cron_string_iterator(start, daily_refresh_schedule.cron_schedule,
                                 daily_refresh_schedule.execution_timezone)
    dagster_ticks = [next(ticks).astimezone(timezone.utc) for _ in range(10)]

    assert len(systemd_ticks) == 10, result.stdout
    assert systemd_ticks == dagster_ticks
    assert {tick.hour for tick in dagster_ticks} == {22, 23}  # both sides of a DST change are covered


def test_the_cron_file_matches_the_schedule() -> None:
    variables, jobs = cron_lines(CRON_FILE)
    (job,) = jobs

    assert variables["CRON_TZ"] == daily_refresh_schedule.execution_timezone
    assert job[:5] == daily_refresh_schedule.cron_schedule.split()
    assert job[5] == unit_settings(SYSTEMD / "vault-daily.service")["User"][0]
    assert ".venv/bin/python -m assets.run" in job[6]


@pytest.mark.parametrize("unit", PIPELINE_UNITS)
def test_units_start_a_program_of_the_project_venv(unit: str) -> None:
    settings = unit_settings(SYSTEMD / unit)
    (working_directory,) = settings["WorkingDirectory"]
    program = Path(settings["ExecStart"][0].split()[0])

    # dagster.yaml's relative storage paths and DAGSTER_HOME both mean the project folder
    assert unit_environment(SYSTEMD / unit)["DAGSTER_HOME"] == working_directory
    assert (PROJECT_ROOT / "dagster.yaml").is_file()
    assert program.is_relative_to(Path(working_directory) / ".venv" / "bin")
    checkout_program = PROJECT_ROOT / program.relative_to(working_directory)
    assert checkout_program.is_file() and checkout_program.stat().st_mode & 0o111, checkout_program


def test_the_dagster_ui_listens_on_loopback_only() -> None:
    """The UI can launch runs and has no login: reach it through an SSH tunnel, never the VPN."""
    (exec_start,) = unit_settings(SYSTEMD / "vault-dagster-webserver.service")["ExecStart"]

    assert exec_start.split()[1:] == ["-h", "127.0.0.1", "-p", "3000"]


def test_every_runner_writes_where_caddy_reads() -> None:
    """The daemon, the UI, the timer's service and cron share one warehouse, site and reports folder."""
    environments = {unit: unit_environment(SYSTEMD / unit) for unit in PIPELINE_UNITS}
    cron_variables, _ = cron_lines(CRON_FILE)
    daily = environments["vault-daily.service"]

    assert set(daily) >= {"DAGSTER_HOME", "VAULT_WAREHOUSE", "VAULT_SITE_DIR", "VAULT_REPORTS_DIR",
                          "VAULT_PORTFOLIO"}
    assert all(environment == daily for environment in environments.values()), environments
    assert {name: cron_variables.get(name) for name in daily} == daily
    assert env_file(CADDY_ENV_EXAMPLE)["VAULT_SITE_DIR"] == daily["VAULT_SITE_DIR"]


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (Debian package systemd)")
@pytest.mark.skipif(shutil.which("caddy") != "/usr/bin/caddy", reason="vault-caddy.service runs /usr/bin/caddy "
                                                                      "(Debian package caddy), not installed")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """`systemd-analyze verify` on the units, with the install folder mapped to this checkout
    (verify also checks that every ExecStart program exists)."""
    (install_root,) = unit_settings(SYSTEMD / "vault-daily.service")["WorkingDirectory"]
    for unit in SYSTEMD.iterdir():
        (tmp_path / unit.name).write_text(unit.read_text().replace(install_root, str(PROJECT_ROOT)))
    result = subprocess.run([SYSTEMD_ANALYZE, "verify", *sorted(str(unit) for unit in tmp_path.iterdir())],
                            capture_output=True, text=True, timeout=60)

    assert (result.returncode, result.stdout + result.stderr) == (0, "")

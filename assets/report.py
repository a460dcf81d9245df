"""`make report EVENT=<event_id>`: run the `selloff_report` job for one event and say where the PDF is."""

import sys

import dagster as dg

from pipeline import paths


def _selloff_job() -> dg.JobDefinition:
    from assets.definitions import defs

    return defs.resolve_job_def("selloff_report")


def main(event_id: str) -> int:
    config = {"ops": {"publish__selloff_reports": {"config": {"event_id": event_id}}}}
    result = dg.execute_job(dg.reconstructable(_selloff_job), instance=dg.DagsterInstance.get(),
                            run_config=config, raise_on_error=False)
    if not result.success:
        print(f"selloff_report for {event_id!r} failed (run {result.run_id}); see the log above", file=sys.stderr)
        return 1
    print(f"Report     {paths.reports_dir() / f'selloff_{event_id}.pdf'}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m assets.report <event_id>")
    sys.exit(main(sys.argv[1]))

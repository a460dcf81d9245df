"""The Dagster layer: thin assets over `pipeline/`, plus resources, checks and schedules."""

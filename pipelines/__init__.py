"""arwip pipelines: the sync (sources → dlt → DuckDB), the SQL models and reports, and the CLI."""

"""dlt sources for the vendor billing APIs arwip syncs: Aiwyn, Aimsio and iinsight.

Shared pieces: ``_http`` (client, auth, retries, rate limits), ``_arrow`` (API rows to typed Arrow
tables with quarantine), ``_incremental`` (watermarks and emitting batches).
"""

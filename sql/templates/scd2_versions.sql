-- SCD2 versions of a staging model, one row per (key, valid_from), from the source's own change timestamp
-- (staging `updated_at`: Aiwyn `updatedAt`, iinsight `last_update_utc`, Aimsio `nrbUpdatedAt`), not from when
-- we loaded the row. Built once per staging model with a line `-- versions in facts.<name> by <key>`
-- (pipelines.models.build.versions_model): `staging.scd2_current` is that model, `staging.scd2_history` its
-- `*_history` twin, `scd2_key` its key.
--   valid_from: the version's change timestamp; valid_to: the next version's change timestamp (null for
--     the current version, is_current). A version is valid in [valid_from, valid_to).
--   version_number: 1 for the first version we saw. We do not know earlier states, so version 1 is taken
--     as valid since the beginning of time (as-of filters: version_number = 1 or valid_from < instant).
--   A current row whose (key, updated_at) is not in the history (loaded before the history table existed)
--   is added as a version, so a record without history has one version, its current row, valid forever.
-- State as of the end of day D (UTC): the one version with (version_number = 1 or valid_from < D + 1 day)
-- and (valid_to is null or valid_to >= D + 1 day).

with

history_rows as (
    select * from staging.scd2_history
),

current_rows as (
    select * from staging.scd2_current
),

current_without_history as (
    select current_rows.*
    from current_rows
    where not exists (
        select 1
        from history_rows
        where history_rows.scd2_key = current_rows.scd2_key
            and history_rows.updated_at = current_rows.updated_at
    )
),

versions as (
    select * from history_rows
    union all
    select * from current_without_history
),

final as (
    select
        versions.*,
        versions.updated_at as valid_from,
        lead(versions.updated_at) over (
            partition by versions.scd2_key
            order by versions.updated_at
        ) as valid_to,
        row_number() over (
            partition by versions.scd2_key
            order by versions.updated_at
        ) as version_number
    from versions
)

select
    final.*,
    final.valid_to is null as is_current
from final

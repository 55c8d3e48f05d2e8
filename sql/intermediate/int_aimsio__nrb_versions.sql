-- SCD2 versions of the Aimsio NRBs, one row per (nrb_guid, valid_from), from the source's own change
-- timestamp (`nrbUpdatedAt`, staging `updated_at`), not from when we loaded the row:
--   valid_from: the version's change timestamp; valid_to: the next version's change timestamp (null for
--     the current version, is_current). A version is valid in [valid_from, valid_to).
--   version_number: 1 for the first version we saw. We do not know earlier states, so version 1 is taken
--     as valid since the beginning of time (as-of filters: version_number = 1 or valid_from < instant).
--   Versions come from stg_aimsio__nrbs_history; a current row whose (nrb_guid, updated_at) is not in the
--   history (loaded before the history table existed) is added as a version, so a record without history
--   has one version, its current row, valid forever.
-- State as of the end of day D (UTC): the one version with (version_number = 1 or valid_from < D + 1 day)
-- and (valid_to is null or valid_to >= D + 1 day).

with

stg_aimsio__nrbs_history as (
    select * from staging.stg_aimsio__nrbs_history
),

stg_aimsio__nrbs as (
    select * from staging.stg_aimsio__nrbs
),

current_without_history as (
    select stg_aimsio__nrbs.*
    from stg_aimsio__nrbs
    left join stg_aimsio__nrbs_history as history
        on stg_aimsio__nrbs.nrb_guid = history.nrb_guid
        and stg_aimsio__nrbs.updated_at = history.updated_at
    where history.nrb_guid is null
),

versions as (
    select * from stg_aimsio__nrbs_history
    union all
    select * from current_without_history
),

final as (
    select
        versions.*,
        versions.updated_at as valid_from,
        lead(versions.updated_at) over (
            partition by versions.nrb_guid
            order by versions.updated_at
        ) as valid_to,
        row_number() over (
            partition by versions.nrb_guid
            order by versions.updated_at
        ) as version_number
    from versions
)

select
    final.*,
    final.valid_to is null as is_current
from final

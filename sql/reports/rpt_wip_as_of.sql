-- Every piece of WIP as it stood at the end of a date (UTC), one row per Aiwyn entry logged / Aimsio NRB
-- created on or before it: the base of rpt_wip_outstanding and rpt_kpis.
--   as_of_date: today (UTC) here; pipelines.models.report() swaps the `as_of` CTE for a fixed date.
--   State: the version valid at the end of as_of_date (fct_wip_versions): Aiwyn value, billed and written
--     off amounts; for an NRB, whether it was WIP then (billable, not internal, top-level) and billed, and
--     its total. An Aiwyn entry or NRB deleted on or before the end of as_of_date (deleted_at < as_of_date
--     + 1 day) is left out.
--   outstanding_amount: wip_value - billed_amount - write_off_amount (NRB: its total unless billed).
--   age_days: as_of_date - logged_date; aging_bucket / bucket_order: the row of reports.aging_buckets
--     holding age_days.

with

as_of as (
    select cast(current_timestamp at time zone 'UTC' as date) as as_of_date
),

as_of_end as (
    select
        as_of_date,
        cast(as_of_date + 1 as timestamp) at time zone 'UTC' as valid_at
    from as_of
),

fct_wip_versions as (
    select * from facts.fct_wip_versions
),

aging_buckets as (
    select * from reports.aging_buckets
),

wip_to_date as (
    select
        fct_wip_versions.source_system,
        fct_wip_versions.wip_id,
        fct_wip_versions.client_name,
        fct_wip_versions.job,
        fct_wip_versions.wip_type,
        fct_wip_versions.logged_date,
        fct_wip_versions.wip_value,
        fct_wip_versions.billed_amount,
        fct_wip_versions.write_off_amount,
        fct_wip_versions.outstanding_amount,
        as_of_end.as_of_date - fct_wip_versions.logged_date as age_days
    from fct_wip_versions
    cross join as_of_end
    where fct_wip_versions.logged_date <= as_of_end.as_of_date
        and (fct_wip_versions.version_number = 1 or fct_wip_versions.valid_from < as_of_end.valid_at)
        and (fct_wip_versions.valid_to is null or fct_wip_versions.valid_to >= as_of_end.valid_at)
        and (fct_wip_versions.deleted_at is null or fct_wip_versions.deleted_at >= as_of_end.valid_at)
),

final as (
    select
        wip_to_date.source_system,
        wip_to_date.wip_id,
        wip_to_date.client_name,
        wip_to_date.job,
        wip_to_date.wip_type,
        wip_to_date.logged_date,
        cast(wip_to_date.wip_value as decimal(18, 2)) as wip_value,
        cast(wip_to_date.billed_amount as decimal(18, 2)) as billed_amount,
        cast(wip_to_date.write_off_amount as decimal(18, 2)) as write_off_amount,
        cast(wip_to_date.outstanding_amount as decimal(18, 2)) as outstanding_amount,
        cast(wip_to_date.age_days as integer) as age_days,
        aging_buckets.bucket_label as aging_bucket,
        aging_buckets.bucket_order
    from wip_to_date
    left join aging_buckets
        on (aging_buckets.min_days is null or wip_to_date.age_days >= aging_buckets.min_days)
        and (aging_buckets.max_days is null or wip_to_date.age_days <= aging_buckets.max_days)
)

select * from final

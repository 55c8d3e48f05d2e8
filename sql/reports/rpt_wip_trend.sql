-- WIP outstanding at every month end, one row per (snapshot_date, source_system, client_name,
-- aging_bucket) with an outstanding amount, in date order: the trend of rpt_wip_outstanding.
--   snapshot_date: the month ends of rpt_month_ends, the last day of every month from the month of the first
--     logged date through the month of as_of_date; for that last month, as_of_date itself (the current
--     month's row is as of today). as_of_date: today (UTC) in the view; pipelines.models.report() sets the
--     `as_of` CTE of rpt_month_ends to a fixed date.
--   Each snapshot is computed exactly as rpt_wip_outstanding as of snapshot_date: every piece of WIP
--   logged on or before it, in the version valid at the end of that day, not deleted by then, with
--   outstanding_amount > 0; aged from its logged date into the configured buckets.
--   outstanding_amount: sum over the group, DECIMAL(18,2); wip_count: pieces of WIP in the group;
--   bucket_order: the bucket's position (1 = current).

with

rpt_month_ends as (
    select * from reports.rpt_month_ends
),

fct_wip_versions as (
    select * from facts.fct_wip_versions
),

aging_buckets as (
    select * from reports.aging_buckets
),

-- outstanding versions only (the others never count), with validity ranges without nulls: version 1 from
-- the beginning of time, the current one (and a never-deleted entry) forever; a deleted Aiwyn entry or NRB
-- counts until deleted
outstanding_versions as (
    select
        source_system,
        wip_id,
        client_name,
        logged_date,
        outstanding_amount,
        case
            when version_number = 1 then cast('0001-01-01 00:00:00+00' as timestamp with time zone)
            else valid_from
        end as range_start,
        least(
            coalesce(valid_to, cast('9999-12-31 00:00:00+00' as timestamp with time zone)),
            coalesce(deleted_at, cast('9999-12-31 00:00:00+00' as timestamp with time zone))
        ) as range_end
    from fct_wip_versions
    where outstanding_amount > 0
),

wip_at_snapshots as (
    select
        rpt_month_ends.snapshot_date,
        outstanding_versions.source_system,
        outstanding_versions.client_name,
        outstanding_versions.outstanding_amount,
        rpt_month_ends.snapshot_date - outstanding_versions.logged_date as age_days
    from outstanding_versions
    inner join rpt_month_ends
        on outstanding_versions.logged_date <= rpt_month_ends.snapshot_date
        and outstanding_versions.range_start < rpt_month_ends.valid_at
        and outstanding_versions.range_end >= rpt_month_ends.valid_at
),

final as (
    select
        wip_at_snapshots.snapshot_date,
        wip_at_snapshots.source_system,
        wip_at_snapshots.client_name,
        aging_buckets.bucket_label as aging_bucket,
        aging_buckets.bucket_order,
        cast(sum(wip_at_snapshots.outstanding_amount) as decimal(18, 2)) as outstanding_amount,
        count(*) as wip_count
    from wip_at_snapshots
    left join aging_buckets
        on (aging_buckets.min_days is null or wip_at_snapshots.age_days >= aging_buckets.min_days)
        and (aging_buckets.max_days is null or wip_at_snapshots.age_days <= aging_buckets.max_days)
    group by
        wip_at_snapshots.snapshot_date,
        wip_at_snapshots.source_system,
        wip_at_snapshots.client_name,
        aging_buckets.bucket_label,
        aging_buckets.bucket_order
)

select * from final
order by snapshot_date, source_system, client_name, bucket_order

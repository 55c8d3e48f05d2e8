-- WIP outstanding as of a date, one row per unbilled piece of work, oldest first.
--   as_of_date: today (UTC) in the view; pipelines.models.report() runs it as of any date (the `as_of` CTE of
--   rpt_wip_as_of).
--   From rpt_wip_as_of: Aiwyn entries logged on or before as_of_date and not deleted by its end, in the
--   state they had at the end of it (outstanding = value - billed - written off then); Aimsio NRBs created
--   on or before as_of_date that were then billable, not internal, not billed and not deleted, valued at
--   their total after markup.
--   Only outstanding_amount > 0 is kept.
--   age_days: as_of_date - logged_date; aging_bucket: configured in reports.aging_buckets; default
--   'current' (<= 0), '1-30', '31-60', '61-90', '91+'.

with

rpt_wip_as_of as (
    select * from reports.rpt_wip_as_of
),

final as (
    select
        source_system,
        wip_id,
        client_name,
        job,
        wip_type,
        logged_date,
        outstanding_amount,
        age_days,
        aging_bucket
    from rpt_wip_as_of
    where outstanding_amount > 0
)

select * from final
order by age_days desc, client_name, source_system, wip_id

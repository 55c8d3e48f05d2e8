-- WIP outstanding as of a date, one row per unbilled piece of work.
--   as_of_date: today (UTC) here; pipelines.models.report() swaps the `as_of` CTE for a fixed date.
--   Aiwyn entries logged on or before as_of_date, outstanding = value - billed - written off;
--   Aimsio NRBs created on or before as_of_date that are billable, not internal, not billed, not
--   deleted, valued at their total after markup. Only outstanding_amount > 0 is kept.
--   age_days: as_of_date - logged_date; aging_bucket: 'current' (<= 0), '1-30', '31-60', '61-90', '91+'.

with

as_of as (
    select cast(current_timestamp at time zone 'UTC' as date) as as_of_date
),

fct_wip as (
    select * from facts.fct_wip
),

wip_to_date as (
    select
        fct_wip.source_system,
        fct_wip.wip_id,
        fct_wip.client_name,
        fct_wip.job,
        fct_wip.wip_type,
        fct_wip.logged_date,
        fct_wip.outstanding_amount,
        as_of.as_of_date - fct_wip.logged_date as age_days
    from fct_wip
    cross join as_of
    where fct_wip.logged_date <= as_of.as_of_date
        and fct_wip.outstanding_amount > 0
),

final as (
    select
        source_system,
        wip_id,
        client_name,
        job,
        wip_type,
        logged_date,
        cast(outstanding_amount as decimal(18, 2)) as outstanding_amount,
        cast(age_days as integer) as age_days,
        case
            when age_days <= 0 then 'current'
            when age_days <= 30 then '1-30'
            when age_days <= 60 then '31-60'
            when age_days <= 90 then '61-90'
            else '91+'
        end as aging_bucket
    from wip_to_date
)

select * from final
order by age_days desc, client_name, source_system, wip_id

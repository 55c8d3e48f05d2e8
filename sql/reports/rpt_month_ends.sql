-- The snapshot dates of the trends (rpt_ar_aging_trend, rpt_wip_trend), one row per month from the month of
-- the first invoice date (invoices counting toward AR) or logged date (WIP) through the month of as_of_date.
--   as_of_date: today (UTC) here; pipelines.models.report() swaps the `as_of` CTE for a fixed date.
--   snapshot_date: the month's last day; for as_of_date's month, as_of_date itself (the current month's
--     snapshot is as of today).
--   valid_at: the end of snapshot_date, snapshot_date + 1 day at 00:00 UTC: a version is the state as of
--     snapshot_date when it starts before valid_at and ends on or after it.
-- A trend has no rows at a month end before its own first date (nothing is dated on or before it), so its
-- first snapshot is still the month end of its own first date.

with recursive

as_of as (
    select cast(current_timestamp at time zone 'UTC' as date) as as_of_date
),

fct_invoice_versions as (
    select * from facts.fct_invoice_versions
),

fct_wip_versions as (
    select * from facts.fct_wip_versions
),

first_dates as (
    select min(invoice_date) as first_date
    from fct_invoice_versions
    where counts_toward_ar
    union all
    select min(logged_date) as first_date
    from fct_wip_versions
),

first_month as (
    select cast(date_trunc('month', min(first_date)) as date) as month_start
    from first_dates
),

months (month_start) as (
    select first_month.month_start
    from first_month
    cross join as_of
    where first_month.month_start <= as_of.as_of_date
    union all
    select cast(months.month_start + interval '1 month' as date) as month_start
    from months
    cross join as_of
    where cast(months.month_start + interval '1 month' as date) <= as_of.as_of_date
),

final as (
    select
        least(cast(months.month_start + interval '1 month' as date) - 1, as_of.as_of_date) as snapshot_date,
        cast(least(cast(months.month_start + interval '1 month' as date), as_of.as_of_date + 1) as timestamp)
            at time zone 'UTC' as valid_at
    from months
    cross join as_of
)

select * from final

-- Lock-up KPIs as of a date, one row per source_system with data plus a total row (source_system 'all',
-- last). Every state is the one valid at the end of as_of_date (rpt_invoices_as_of, rpt_wip_as_of).
--   as_of_date: today (UTC) here; pipelines.models.report() swaps the `as_of` CTEs for a fixed date.
--   Period: the trailing 90 days ending on as_of_date, period_start = as_of_date - 89 through as_of_date,
--   both included (period_days = 90).
-- Amounts (DECIMAL(18,2)):
--   ar_open_amount         = sum of open_amount of the invoices counting toward AR (= rpt_ar_aging's total)
--   billed_amount          = sum of total_amount of the invoices counting toward AR dated in the period
--   collected_amount       = billed_amount - the open_amount today of those same invoices (what was paid
--                            or otherwise settled of the period's billing)
--   wip_outstanding_amount = sum of outstanding_amount > 0 (= rpt_wip_outstanding's total)
--   wip_value_amount       = sum of wip_value of the WIP logged in the period
--   wip_billed_amount      = sum of billed_amount of the WIP logged in the period
--   wip_written_off_amount = sum of write_off_amount of the WIP logged in the period
-- KPIs (null when the divisor is 0 or missing):
--   debtor_days (DSO)      = ar_open_amount / billed_amount * period_days, DECIMAL(18,1)
--   wip_days               = wip_outstanding_amount / wip_value_amount * period_days, DECIMAL(18,1)
--   lockup_days            = wip_days + debtor_days (null when either is), DECIMAL(18,1)
--   billing_realization    = wip_billed_amount / wip_value_amount, DECIMAL(9,4)
--   collection_realization = collected_amount / billed_amount, DECIMAL(9,4)
--   write_off_rate         = wip_written_off_amount / wip_value_amount, DECIMAL(9,4)
-- KPIs are computed unrounded, then rounded to their scale (lockup_days from the unrounded sum).

with

as_of as (
    select cast(current_timestamp at time zone 'UTC' as date) as as_of_date
),

period as (
    select
        as_of_date,
        as_of_date - 89 as period_start,
        90 as period_days
    from as_of
),

rpt_invoices_as_of as (
    select * from reports.rpt_invoices_as_of
),

rpt_wip_as_of as (
    select * from reports.rpt_wip_as_of
),

ar_measures as (
    select
        rpt_invoices_as_of.source_system,
        sum(rpt_invoices_as_of.open_amount) as ar_open_amount,
        sum(case when rpt_invoices_as_of.invoice_date >= period.period_start then rpt_invoices_as_of.total_amount end)
            as billed_amount,
        sum(
            case
                when rpt_invoices_as_of.invoice_date >= period.period_start
                    then rpt_invoices_as_of.total_amount - rpt_invoices_as_of.open_amount
            end
        ) as collected_amount
    from rpt_invoices_as_of
    cross join period
    where rpt_invoices_as_of.counts_toward_ar
    group by rpt_invoices_as_of.source_system
),

wip_measures as (
    select
        rpt_wip_as_of.source_system,
        sum(case when rpt_wip_as_of.outstanding_amount > 0 then rpt_wip_as_of.outstanding_amount end)
            as wip_outstanding_amount,
        sum(case when rpt_wip_as_of.logged_date >= period.period_start then rpt_wip_as_of.wip_value end)
            as wip_value_amount,
        sum(case when rpt_wip_as_of.logged_date >= period.period_start then rpt_wip_as_of.billed_amount end)
            as wip_billed_amount,
        sum(case when rpt_wip_as_of.logged_date >= period.period_start then rpt_wip_as_of.write_off_amount end)
            as wip_written_off_amount
    from rpt_wip_as_of
    cross join period
    group by rpt_wip_as_of.source_system
),

measures as (
    select
        source_system,
        ar_open_amount,
        billed_amount,
        collected_amount,
        cast(null as decimal(18, 2)) as wip_outstanding_amount,
        cast(null as decimal(18, 2)) as wip_value_amount,
        cast(null as decimal(18, 2)) as wip_billed_amount,
        cast(null as decimal(18, 2)) as wip_written_off_amount
    from ar_measures
    union all
    select
        source_system,
        cast(null as decimal(18, 2)) as ar_open_amount,
        cast(null as decimal(18, 2)) as billed_amount,
        cast(null as decimal(18, 2)) as collected_amount,
        wip_outstanding_amount,
        wip_value_amount,
        wip_billed_amount,
        wip_written_off_amount
    from wip_measures
),

per_source as (
    select
        source_system,
        0 as sort_order,
        coalesce(sum(ar_open_amount), 0) as ar_open_amount,
        coalesce(sum(billed_amount), 0) as billed_amount,
        coalesce(sum(collected_amount), 0) as collected_amount,
        coalesce(sum(wip_outstanding_amount), 0) as wip_outstanding_amount,
        coalesce(sum(wip_value_amount), 0) as wip_value_amount,
        coalesce(sum(wip_billed_amount), 0) as wip_billed_amount,
        coalesce(sum(wip_written_off_amount), 0) as wip_written_off_amount
    from measures
    group by source_system
),

totals as (
    select
        'all' as source_system,
        1 as sort_order,
        coalesce(sum(ar_open_amount), 0) as ar_open_amount,
        coalesce(sum(billed_amount), 0) as billed_amount,
        coalesce(sum(collected_amount), 0) as collected_amount,
        coalesce(sum(wip_outstanding_amount), 0) as wip_outstanding_amount,
        coalesce(sum(wip_value_amount), 0) as wip_value_amount,
        coalesce(sum(wip_billed_amount), 0) as wip_billed_amount,
        coalesce(sum(wip_written_off_amount), 0) as wip_written_off_amount
    from per_source
),

rows_with_totals as (
    select * from per_source
    union all
    select * from totals
),

ratios as (
    select
        rows_with_totals.*,
        period.as_of_date,
        period.period_start,
        period.period_days,
        rows_with_totals.ar_open_amount * period.period_days / nullif(rows_with_totals.billed_amount, 0)
            as debtor_days,
        rows_with_totals.wip_outstanding_amount * period.period_days / nullif(rows_with_totals.wip_value_amount, 0)
            as wip_days,
        rows_with_totals.wip_billed_amount / nullif(rows_with_totals.wip_value_amount, 0) as billing_realization,
        rows_with_totals.collected_amount / nullif(rows_with_totals.billed_amount, 0) as collection_realization,
        rows_with_totals.wip_written_off_amount / nullif(rows_with_totals.wip_value_amount, 0) as write_off_rate
    from rows_with_totals
    cross join period
),

final as (
    select
        source_system,
        as_of_date,
        period_start,
        period_days,
        cast(ar_open_amount as decimal(18, 2)) as ar_open_amount,
        cast(billed_amount as decimal(18, 2)) as billed_amount,
        cast(collected_amount as decimal(18, 2)) as collected_amount,
        cast(wip_outstanding_amount as decimal(18, 2)) as wip_outstanding_amount,
        cast(wip_value_amount as decimal(18, 2)) as wip_value_amount,
        cast(wip_billed_amount as decimal(18, 2)) as wip_billed_amount,
        cast(wip_written_off_amount as decimal(18, 2)) as wip_written_off_amount,
        cast(round(debtor_days, 1) as decimal(18, 1)) as debtor_days,
        cast(round(wip_days, 1) as decimal(18, 1)) as wip_days,
        cast(round(wip_days + debtor_days, 1) as decimal(18, 1)) as lockup_days,
        cast(round(billing_realization, 4) as decimal(9, 4)) as billing_realization,
        cast(round(collection_realization, 4) as decimal(9, 4)) as collection_realization,
        cast(round(write_off_rate, 4) as decimal(9, 4)) as write_off_rate,
        sort_order
    from ratios
)

select
    source_system,
    as_of_date,
    period_start,
    period_days,
    ar_open_amount,
    billed_amount,
    collected_amount,
    wip_outstanding_amount,
    wip_value_amount,
    wip_billed_amount,
    wip_written_off_amount,
    debtor_days,
    wip_days,
    lockup_days,
    billing_realization,
    collection_realization,
    write_off_rate
from final
order by sort_order, source_system

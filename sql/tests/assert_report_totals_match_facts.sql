-- Data test: the reports (as of today) add up to the facts. Returns one row per check that fails: check_name,
-- expected (from the facts or the detail report), actual (from the report), message.
--   ar_aging: sum of rpt_ar_aging.open_amount = the open amounts computed directly from fct_invoices (today's
--     rows) and fct_payments (confirmed, still counting: not deleted nor voided, dated on or before today),
--     for invoices counting toward AR (so not soft-deleted) dated on or before today. It compares the
--     history-based report (deletions and voids by date) with the current tables (by flag).
--   ar_aging_by_client: sum of rpt_ar_aging_by_client.total = sum of rpt_ar_aging.open_amount.
--   wip_outstanding: sum of rpt_wip_outstanding.outstanding_amount = sum of fct_wip.outstanding_amount > 0
--     logged on or before today (fct_wip has no soft-deleted WIP).
--   wip_outstanding_by_client: sum of rpt_wip_outstanding_by_client.total = the detail's sum.
--   kpis_ar / kpis_wip: the 'all' row of rpt_kpis = the detail reports' sums.
--   ar_aging_trend / wip_trend: the trends' snapshot of today = the detail reports' sums.

with

today as (
    select cast(current_timestamp at time zone 'UTC' as date) as as_of_date
),

fct_invoices as (
    select * from facts.fct_invoices
),

fct_payments as (
    select * from facts.fct_payments
),

fct_wip as (
    select * from facts.fct_wip
),

paid as (
    select
        fct_payments.source_system,
        fct_payments.invoice_id,
        sum(fct_payments.payment_amount) as paid_amount
    from fct_payments
    cross join today
    where fct_payments.is_confirmed
        and fct_payments.counts_until is null
        and fct_payments.invoice_id is not null
        and fct_payments.payment_date <= today.as_of_date
    group by fct_payments.source_system, fct_payments.invoice_id
),

facts_ar as (
    select
        coalesce(sum(
            case
                when fct_invoices.is_open_from_payments
                    then fct_invoices.total_amount - coalesce(paid.paid_amount, 0)
                else fct_invoices.vendor_open_amount
            end
        ), 0) as amount
    from fct_invoices
    cross join today
    left join paid
        on fct_invoices.source_system = paid.source_system
        and fct_invoices.invoice_id = paid.invoice_id
    where fct_invoices.counts_toward_ar
        and fct_invoices.invoice_date <= today.as_of_date
),

facts_wip as (
    select coalesce(sum(fct_wip.outstanding_amount), 0) as amount
    from fct_wip
    cross join today
    where fct_wip.outstanding_amount > 0
        and fct_wip.logged_date <= today.as_of_date
),

report_ar as (
    select coalesce(sum(open_amount), 0) as amount
    from reports.rpt_ar_aging
),

report_ar_by_client as (
    select coalesce(sum(total), 0) as amount
    from reports.rpt_ar_aging_by_client
),

report_wip as (
    select coalesce(sum(outstanding_amount), 0) as amount
    from reports.rpt_wip_outstanding
),

report_wip_by_client as (
    select coalesce(sum(total), 0) as amount
    from reports.rpt_wip_outstanding_by_client
),

kpis as (
    select
        ar_open_amount,
        wip_outstanding_amount
    from reports.rpt_kpis
    where source_system = 'all'
),

ar_trend_today as (
    select coalesce(sum(trend.open_amount), 0) as amount
    from reports.rpt_ar_aging_trend as trend
    -- a constant (not the `today` CTE), so the filter reaches the trend's snapshots: one snapshot computed
    where trend.snapshot_date = cast(current_timestamp at time zone 'UTC' as date)
),

wip_trend_today as (
    select coalesce(sum(trend.outstanding_amount), 0) as amount
    from reports.rpt_wip_trend as trend
    where trend.snapshot_date = cast(current_timestamp at time zone 'UTC' as date)
),

checks as (
    select 'ar_aging' as check_name, facts_ar.amount as expected, report_ar.amount as actual
    from facts_ar
    cross join report_ar
    union all
    select 'ar_aging_by_client', report_ar.amount, report_ar_by_client.amount
    from report_ar
    cross join report_ar_by_client
    union all
    select 'wip_outstanding', facts_wip.amount, report_wip.amount
    from facts_wip
    cross join report_wip
    union all
    select 'wip_outstanding_by_client', report_wip.amount, report_wip_by_client.amount
    from report_wip
    cross join report_wip_by_client
    union all
    select 'kpis_ar', report_ar.amount, kpis.ar_open_amount
    from report_ar
    cross join kpis
    union all
    select 'kpis_wip', report_wip.amount, kpis.wip_outstanding_amount
    from report_wip
    cross join kpis
    union all
    select 'ar_aging_trend', report_ar.amount, ar_trend_today.amount
    from report_ar
    cross join ar_trend_today
    union all
    select 'wip_trend', report_wip.amount, wip_trend_today.amount
    from report_wip
    cross join wip_trend_today
),

final as (
    select
        check_name,
        cast(expected as decimal(18, 2)) as expected,
        cast(actual as decimal(18, 2)) as actual,
        'report total differs from ' || case
            when check_name in ('ar_aging', 'wip_outstanding') then 'the facts'
            else 'the detail report'
        end as message
    from checks
    where expected <> actual
)

select * from final

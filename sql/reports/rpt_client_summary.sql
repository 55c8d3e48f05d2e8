-- One row per client with AR open or WIP outstanding as of a date: both per aging bucket, their totals and
-- the client's debtor days. What `arwip push aiwyn-records` publishes as the record type arwip_ar_summary
-- (one record per client_name).
--   as_of_date: today (UTC) here; pipelines.models.report() swaps the `as_of` CTE for a fixed date.
--   ar_bucket_<label>, ar_total: open AR per bucket of rpt_ar_aging, and its sum (DECIMAL(18,2)).
--   wip_bucket_<label>, wip_total: WIP outstanding per bucket of rpt_wip_outstanding, and its sum.
--   dso_days: debtor days over the trailing 90 days as in rpt_kpis, per client: ar_total / billed_amount
--     * 90, billed_amount = total_amount of the client's invoices counting toward AR dated in the 90 days
--     ending on as_of_date; DECIMAL(18,1), null when nothing was billed then.
-- One column per configured bucket (reports.aging_buckets) in each family: pipelines.models rewrites the
-- ar_bucket_* and wip_bucket_* columns below, written for the default buckets, from their *_bucket_current
-- templates (pivot_buckets).

with

as_of as (
    select cast(current_timestamp at time zone 'UTC' as date) as as_of_date
),

rpt_ar_aging as (
    select * from reports.rpt_ar_aging
),

rpt_wip_outstanding as (
    select * from reports.rpt_wip_outstanding
),

rpt_invoices_as_of as (
    select * from reports.rpt_invoices_as_of
),

amounts as (
    select
        client_name,
        'ar' as measure,
        aging_bucket,
        open_amount as amount
    from rpt_ar_aging
    union all
    select
        client_name,
        'wip' as measure,
        aging_bucket,
        outstanding_amount as amount
    from rpt_wip_outstanding
),

billed as (
    select
        rpt_invoices_as_of.client_name,
        sum(rpt_invoices_as_of.total_amount) as billed_amount
    from rpt_invoices_as_of
    cross join as_of
    where rpt_invoices_as_of.counts_toward_ar
        and rpt_invoices_as_of.invoice_date >= as_of.as_of_date - 89
    group by rpt_invoices_as_of.client_name
),

by_client as (
    select
        client_name,
        cast(sum(case when measure = 'ar' and aging_bucket = 'current' then amount else 0 end) as decimal(18, 2))
            as ar_bucket_current,
        cast(sum(case when measure = 'ar' and aging_bucket = '1-30' then amount else 0 end) as decimal(18, 2))
            as ar_bucket_1_30,
        cast(sum(case when measure = 'ar' and aging_bucket = '31-60' then amount else 0 end) as decimal(18, 2))
            as ar_bucket_31_60,
        cast(sum(case when measure = 'ar' and aging_bucket = '61-90' then amount else 0 end) as decimal(18, 2))
            as ar_bucket_61_90,
        cast(sum(case when measure = 'ar' and aging_bucket = '91+' then amount else 0 end) as decimal(18, 2))
            as ar_bucket_91_plus,
        cast(sum(case when measure = 'ar' then amount else 0 end) as decimal(18, 2)) as ar_total,
        cast(sum(case when measure = 'wip' and aging_bucket = 'current' then amount else 0 end) as decimal(18, 2))
            as wip_bucket_current,
        cast(sum(case when measure = 'wip' and aging_bucket = '1-30' then amount else 0 end) as decimal(18, 2))
            as wip_bucket_1_30,
        cast(sum(case when measure = 'wip' and aging_bucket = '31-60' then amount else 0 end) as decimal(18, 2))
            as wip_bucket_31_60,
        cast(sum(case when measure = 'wip' and aging_bucket = '61-90' then amount else 0 end) as decimal(18, 2))
            as wip_bucket_61_90,
        cast(sum(case when measure = 'wip' and aging_bucket = '91+' then amount else 0 end) as decimal(18, 2))
            as wip_bucket_91_plus,
        cast(sum(case when measure = 'wip' then amount else 0 end) as decimal(18, 2)) as wip_total
    from amounts
    group by client_name
),

final as (
    select
        by_client.*,
        cast(round(by_client.ar_total * 90 / nullif(billed.billed_amount, 0), 1) as decimal(18, 1)) as dso_days,
        as_of.as_of_date
    from by_client
    cross join as_of
    left join billed on by_client.client_name = billed.client_name
)

select * from final
order by client_name

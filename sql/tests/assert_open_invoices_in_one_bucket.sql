-- Data test: every invoice open today (computed from the facts: counts toward AR, so not soft-deleted, dated
-- on or before today, total minus confirmed payments dated on or before today and still counting (not
-- deleted, not voided), or iinsight's payable when its payments cannot be read, not 0) is in exactly one row of rpt_ar_aging, whose aging_bucket is one of reports.aging_buckets.
-- Returns source_system, invoice_id, report_rows, bucketed_rows, message.

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

rpt_ar_aging as (
    select * from reports.rpt_ar_aging
),

aging_buckets as (
    select * from reports.aging_buckets
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

open_invoices as (
    select
        fct_invoices.source_system,
        fct_invoices.invoice_id
    from fct_invoices
    cross join today
    left join paid
        on fct_invoices.source_system = paid.source_system
        and fct_invoices.invoice_id = paid.invoice_id
    where fct_invoices.counts_toward_ar
        and fct_invoices.invoice_date <= today.as_of_date
        and case
            when fct_invoices.is_open_from_payments then fct_invoices.total_amount - coalesce(paid.paid_amount, 0)
            else fct_invoices.vendor_open_amount
        end <> 0
),

report_rows as (
    select
        rpt_ar_aging.source_system,
        rpt_ar_aging.invoice_id,
        count(*) as report_rows,
        count(aging_buckets.bucket_label) as bucketed_rows
    from rpt_ar_aging
    left join aging_buckets
        on rpt_ar_aging.aging_bucket = aging_buckets.bucket_label
    group by rpt_ar_aging.source_system, rpt_ar_aging.invoice_id
),

final as (
    select
        open_invoices.source_system,
        open_invoices.invoice_id,
        coalesce(report_rows.report_rows, 0) as report_rows,
        coalesce(report_rows.bucketed_rows, 0) as bucketed_rows,
        'open invoice not in exactly one aging bucket' as message
    from open_invoices
    left join report_rows
        on open_invoices.source_system = report_rows.source_system
        and open_invoices.invoice_id = report_rows.invoice_id
    where coalesce(report_rows.report_rows, 0) <> 1
        or coalesce(report_rows.bucketed_rows, 0) <> 1
)

select * from final

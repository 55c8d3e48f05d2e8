-- AR aging at every month end, one row per (snapshot_date, source_system, client_name, aging_bucket) with
-- an open amount, in date order: the trend of rpt_ar_aging.
--   snapshot_date: the month ends of rpt_month_ends, the last day of every month from the month of the first
--     invoice date (invoices counting toward AR) through the month of as_of_date; for that last month,
--     as_of_date itself (the current month's row is as of today). as_of_date: today (UTC) in the view;
--     pipelines.models.report() sets the `as_of` CTE of rpt_month_ends to a fixed date.
--   Each snapshot is computed exactly as rpt_ar_aging as of snapshot_date: every invoice in the version
--   valid at the end of that day, dated on or before it, counting toward AR and not deleted by then;
--   open_amount = total minus the confirmed payments dated on or before it that still counted then (not
--   deleted, not voided) or the version's payable (iinsight without payments); left out when 0;
--   days past due and bucket as in rpt_invoices_as_of (configured buckets and basis).
--   open_amount: sum over the group, DECIMAL(18,2); invoice_count: open invoices in the group;
--   bucket_order: the bucket's position (1 = current).

with

rpt_month_ends as (
    select * from reports.rpt_month_ends
),

fct_invoice_versions as (
    select * from facts.fct_invoice_versions
),

fct_payments as (
    select * from facts.fct_payments
),

aging_buckets as (
    select * from reports.aging_buckets
),

report_settings as (
    select * from reports.report_settings
),

-- validity ranges without nulls (version 1 from the beginning of time, the current one forever), so the
-- joins to the snapshots are plain range joins; a deleted invoice counts until deleted
ar_versions as (
    select
        source_system,
        invoice_id,
        client_name,
        invoice_date,
        due_date,
        total_amount,
        vendor_open_amount,
        is_open_from_payments,
        case
            when version_number = 1 then cast('0001-01-01 00:00:00+00' as timestamp with time zone)
            else valid_from
        end as range_start,
        least(
            coalesce(valid_to, cast('9999-12-31 00:00:00+00' as timestamp with time zone)),
            coalesce(deleted_at, cast('9999-12-31 00:00:00+00' as timestamp with time zone))
        ) as range_end
    from fct_invoice_versions
    where counts_toward_ar
),

-- what confirmed payments change in what an invoice has been paid: + the amount on the payment date and,
-- for a payment that stopped counting later (deleted, or an iinsight payment voided), - the amount on the UTC
-- date it stopped (as of a date D it counts while counts_until >= D + 1 day, i.e. on the days before that
-- date); one that stopped on or before its payment date never counts
payment_changes as (
    select
        source_system,
        invoice_id,
        payment_date as change_date,
        payment_amount as paid_change
    from fct_payments
    where is_confirmed
        and invoice_id is not null
        and (counts_until is null or cast(counts_until at time zone 'UTC' as date) > payment_date)
    union all
    select
        source_system,
        invoice_id,
        cast(counts_until at time zone 'UTC' as date) as change_date,
        0 - payment_amount as paid_change
    from fct_payments
    where is_confirmed
        and invoice_id is not null
        and cast(counts_until at time zone 'UTC' as date) > payment_date
),

payment_days as (
    select
        source_system,
        invoice_id,
        change_date,
        sum(paid_change) as paid_on_day
    from payment_changes
    group by source_system, invoice_id, change_date
),

-- what an invoice has been paid as a step function of the date: paid_amount on days paid_from through
-- paid_until - 1; the first step (nothing paid) runs from the beginning of time to the first change
payment_steps as (
    select
        source_system,
        invoice_id,
        change_date as paid_from,
        coalesce(
            lead(change_date) over (partition by source_system, invoice_id order by change_date),
            cast('9999-12-31' as date)
        ) as paid_until,
        sum(paid_on_day) over (
            partition by source_system, invoice_id
            order by change_date
            rows between unbounded preceding and current row
        ) as paid_amount
    from payment_days
    union all
    select
        source_system,
        invoice_id,
        cast('0001-01-01' as date) as paid_from,
        min(change_date) as paid_until,
        0 as paid_amount
    from payment_days
    group by source_system, invoice_id
),

-- each version with each payment step (open = total - paid; an invoice without payments has one step,
-- nothing paid, forever), or alone (the version's payable, when iinsight's payments cannot be read); only the
-- pieces that are open
open_pieces as (
    select
        ar_versions.source_system,
        ar_versions.invoice_id,
        ar_versions.client_name,
        ar_versions.invoice_date,
        ar_versions.due_date,
        ar_versions.range_start,
        ar_versions.range_end,
        coalesce(payment_steps.paid_from, cast('0001-01-01' as date)) as paid_from,
        coalesce(payment_steps.paid_until, cast('9999-12-31' as date)) as paid_until,
        ar_versions.total_amount - coalesce(payment_steps.paid_amount, 0) as open_amount
    from ar_versions
    left join payment_steps
        on ar_versions.source_system = payment_steps.source_system
        and ar_versions.invoice_id = payment_steps.invoice_id
    where ar_versions.is_open_from_payments
        and ar_versions.total_amount - coalesce(payment_steps.paid_amount, 0) <> 0
    union all
    select
        source_system,
        invoice_id,
        client_name,
        invoice_date,
        due_date,
        range_start,
        range_end,
        cast('0001-01-01' as date) as paid_from,
        cast('9999-12-31' as date) as paid_until,
        vendor_open_amount as open_amount
    from ar_versions
    where not is_open_from_payments
        and vendor_open_amount <> 0
),

open_at_snapshots as (
    select
        rpt_month_ends.snapshot_date,
        open_pieces.source_system,
        open_pieces.client_name,
        open_pieces.open_amount,
        rpt_month_ends.snapshot_date - case
            when report_settings.aging_basis = 'invoice_date' then open_pieces.invoice_date
            else coalesce(open_pieces.due_date, open_pieces.invoice_date)
        end as days_past_due
    from open_pieces
    inner join rpt_month_ends
        on open_pieces.range_start < rpt_month_ends.valid_at
        and open_pieces.range_end >= rpt_month_ends.valid_at
        and open_pieces.invoice_date <= rpt_month_ends.snapshot_date
        and open_pieces.paid_from <= rpt_month_ends.snapshot_date
        and open_pieces.paid_until > rpt_month_ends.snapshot_date
    cross join report_settings
),

final as (
    select
        open_at_snapshots.snapshot_date,
        open_at_snapshots.source_system,
        open_at_snapshots.client_name,
        aging_buckets.bucket_label as aging_bucket,
        aging_buckets.bucket_order,
        cast(sum(open_at_snapshots.open_amount) as decimal(18, 2)) as open_amount,
        count(*) as invoice_count
    from open_at_snapshots
    left join aging_buckets
        on (aging_buckets.min_days is null or open_at_snapshots.days_past_due >= aging_buckets.min_days)
        and (aging_buckets.max_days is null or open_at_snapshots.days_past_due <= aging_buckets.max_days)
    group by
        open_at_snapshots.snapshot_date,
        open_at_snapshots.source_system,
        open_at_snapshots.client_name,
        aging_buckets.bucket_label,
        aging_buckets.bucket_order
)

select * from final
order by snapshot_date, source_system, client_name, bucket_order

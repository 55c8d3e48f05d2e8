-- Every invoice as it stood at the end of a date (UTC), one row per invoice dated on or before it: the
-- base of rpt_ar_aging and rpt_kpis.
--   as_of_date: today (UTC) here; pipelines.models.report() swaps the `as_of` CTE for a fixed date.
--   State (status, dates, total, iinsight's payable, counts_toward_ar): the invoice's version valid at the
--     end of as_of_date (fct_invoice_versions: the change must be before as_of_date + 1 day, 00:00 UTC).
--   counts_toward_ar: the version's (by status), and false once the invoice is soft-deleted by the end of
--     as_of_date (deleted_at < as_of_date + 1 day); a deleted invoice stays listed, out of AR.
--   paid_amount: confirmed payments dated on or before as_of_date that still counted at its end (not deleted,
--     not voided by then: fct_payments.counts_until) (Aiwyn, and iinsight when its payments can be read;
--     null for an iinsight invoice whose open amount is the vendor's payable).
--   open_amount: total_amount - paid_amount, or the version's `total_amount_payable` when the invoice's
--     open_amount_basis is 'vendor_payable' (iinsight payments unavailable).
--   open_amount_basis: 'payments' or 'vendor_payable' (fct_invoice_versions).
--   days_past_due: as_of_date - due_date (invoice_date when there is no due date), or as_of_date -
--     invoice_date when reports.report_settings.aging_basis = 'invoice_date'.
--   aging_bucket / bucket_order: the row of reports.aging_buckets (configured thresholds) holding
--     days_past_due.

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

payments_to_date as (
    select
        fct_payments.source_system,
        fct_payments.invoice_id,
        sum(fct_payments.payment_amount) as paid_amount
    from fct_payments
    cross join as_of_end
    where fct_payments.is_confirmed
        and fct_payments.invoice_id is not null
        and fct_payments.payment_date <= as_of_end.as_of_date
        and (fct_payments.counts_until is null or fct_payments.counts_until >= as_of_end.valid_at)
    group by fct_payments.source_system, fct_payments.invoice_id
),

versions_as_of as (
    select
        fct_invoice_versions.source_system,
        fct_invoice_versions.invoice_id,
        fct_invoice_versions.invoice_number,
        fct_invoice_versions.client_name,
        fct_invoice_versions.invoice_status,
        fct_invoice_versions.invoice_date,
        fct_invoice_versions.due_date,
        fct_invoice_versions.total_amount,
        fct_invoice_versions.vendor_open_amount,
        fct_invoice_versions.is_open_from_payments,
        fct_invoice_versions.open_amount_basis,
        fct_invoice_versions.counts_toward_ar
        and (fct_invoice_versions.deleted_at is null or fct_invoice_versions.deleted_at >= as_of_end.valid_at)
            as counts_toward_ar,
        as_of_end.as_of_date
    from fct_invoice_versions
    cross join as_of_end
    where fct_invoice_versions.invoice_date <= as_of_end.as_of_date
        and (fct_invoice_versions.version_number = 1 or fct_invoice_versions.valid_from < as_of_end.valid_at)
        and (fct_invoice_versions.valid_to is null or fct_invoice_versions.valid_to >= as_of_end.valid_at)
),

invoices_to_date as (
    select
        versions_as_of.source_system,
        versions_as_of.invoice_id,
        versions_as_of.invoice_number,
        versions_as_of.client_name,
        versions_as_of.invoice_status,
        versions_as_of.invoice_date,
        versions_as_of.due_date,
        versions_as_of.total_amount,
        case when versions_as_of.is_open_from_payments then coalesce(payments_to_date.paid_amount, 0) end
            as paid_amount,
        case
            when versions_as_of.is_open_from_payments
                then versions_as_of.total_amount - coalesce(payments_to_date.paid_amount, 0)
            else versions_as_of.vendor_open_amount
        end as open_amount,
        versions_as_of.open_amount_basis,
        versions_as_of.counts_toward_ar,
        versions_as_of.as_of_date - case
            when report_settings.aging_basis = 'invoice_date' then versions_as_of.invoice_date
            else coalesce(versions_as_of.due_date, versions_as_of.invoice_date)
        end as days_past_due
    from versions_as_of
    cross join report_settings
    left join payments_to_date
        on versions_as_of.source_system = payments_to_date.source_system
        and versions_as_of.invoice_id = payments_to_date.invoice_id
),

final as (
    select
        invoices_to_date.source_system,
        invoices_to_date.invoice_id,
        invoices_to_date.invoice_number,
        invoices_to_date.client_name,
        invoices_to_date.invoice_status,
        invoices_to_date.invoice_date,
        invoices_to_date.due_date,
        cast(invoices_to_date.total_amount as decimal(18, 2)) as total_amount,
        cast(invoices_to_date.paid_amount as decimal(18, 2)) as paid_amount,
        cast(invoices_to_date.open_amount as decimal(18, 2)) as open_amount,
        invoices_to_date.counts_toward_ar,
        cast(invoices_to_date.days_past_due as integer) as days_past_due,
        aging_buckets.bucket_label as aging_bucket,
        aging_buckets.bucket_order,
        invoices_to_date.open_amount_basis
    from invoices_to_date
    left join aging_buckets
        on (aging_buckets.min_days is null or invoices_to_date.days_past_due >= aging_buckets.min_days)
        and (aging_buckets.max_days is null or invoices_to_date.days_past_due <= aging_buckets.max_days)
)

select * from final

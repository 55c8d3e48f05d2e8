-- Invoices of every source, one row per (source_system, invoice_id).
--   counts_toward_ar: not cancelled / draft (Aiwyn), not voided / reversed (iinsight), and not soft-deleted.
--   is_deleted / deleted_at: the invoice vanished from the source (`<source>.deletions`, see the staging
--     models); kept here, out of AR.
--   is_open_from_payments: true when the open amount is total_amount minus the payments in fct_payments
--     (Aiwyn; iinsight when its payments could be read in the latest sync); false when only the vendor's
--     current open amount is known (iinsight without payments: `total_amount_payable`, in vendor_open_amount).
--   open_amount_basis: 'payments' or 'vendor_payable', the same in words (appended last).
-- Dates are UTC calendar dates; money DECIMAL(18,2).

with

stg_aiwyn__invoices as (
    select * from staging.stg_aiwyn__invoices
),

stg_iinsight__invoices as (
    select * from staging.stg_iinsight__invoices
),

int_iinsight__availability as (
    select * from facts.int_iinsight__availability
),

aiwyn_invoices as (
    select
        'aiwyn' as source_system,
        cast(invoice_id as varchar) as invoice_id,
        invoice_number,
        client_name,
        invoice_status,
        invoice_date,
        due_date,
        currency,
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(vendor_outstanding_amount as decimal(18, 2)) as vendor_open_amount,
        true as is_open_from_payments,
        invoice_status not in ('CANCELLED', 'DRAFT') and not is_deleted as counts_toward_ar,
        is_deleted,
        deleted_at,
        'payments' as open_amount_basis
    from stg_aiwyn__invoices
),

iinsight_invoices as (
    select
        'iinsight' as source_system,
        invoice_id,
        invoice_number,
        bill_to_name as client_name,
        invoice_status,
        invoice_date,
        due_date,
        cast(null as varchar) as currency,
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(amount_payable as decimal(18, 2)) as vendor_open_amount,
        int_iinsight__availability.has_payments as is_open_from_payments,
        invoice_status not in ('VOIDED', 'REVERSED') and not is_deleted as counts_toward_ar,
        is_deleted,
        deleted_at,
        case when int_iinsight__availability.has_payments then 'payments' else 'vendor_payable' end
            as open_amount_basis
    from stg_iinsight__invoices
    cross join int_iinsight__availability
),

final as (
    select * from aiwyn_invoices
    union all
    select * from iinsight_invoices
)

select * from final

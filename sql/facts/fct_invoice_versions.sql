-- materialized: table
-- Every version of every invoice (SCD2), one row per (source_system, invoice_id, valid_from): the columns
-- of fct_invoices as the invoice was in that version (status, dates, amounts; no is_deleted; is_open_from_payments
-- and open_amount_basis are today's, for every version), where
--   counts_toward_ar: by the version's status only (not cancelled / draft, not voided / reversed);
--   deleted_at: when the invoice was found deleted (`<source>.deletions`: when our sync saw it vanish; null
--     when not deleted or back again; the same on every version). As of day D it is out of AR when
--     deleted_at < D + 1 day (00:00 UTC);
--   valid_from / valid_to: the source's change timestamps (Aiwyn `updatedAt`, iinsight `last_update_utc`);
--     valid in [valid_from, valid_to), valid_to null for the current version (is_current);
--   version_number: 1 = the first version we saw, taken as valid since the beginning of time.
-- See sql/templates/scd2_versions.sql for how versions are built. The version as of the end of UTC day
-- D: (version_number = 1 or valid_from < D + 1 day) and (valid_to is null or valid_to >= D + 1 day).

with

int_aiwyn__invoice_versions as (
    select * from facts.int_aiwyn__invoice_versions
),

int_iinsight__invoice_versions as (
    select * from facts.int_iinsight__invoice_versions
),

int_iinsight__availability as (
    select * from facts.int_iinsight__availability
),

aiwyn_versions as (
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
        invoice_status not in ('CANCELLED', 'DRAFT') as counts_toward_ar,
        deleted_at,
        valid_from,
        valid_to,
        version_number,
        is_current,
        'payments' as open_amount_basis
    from int_aiwyn__invoice_versions
),

iinsight_versions as (
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
        invoice_status not in ('VOIDED', 'REVERSED') as counts_toward_ar,
        deleted_at,
        valid_from,
        valid_to,
        version_number,
        is_current,
        case when int_iinsight__availability.has_payments then 'payments' else 'vendor_payable' end
            as open_amount_basis
    from int_iinsight__invoice_versions
    cross join int_iinsight__availability
),

final as (
    select * from aiwyn_versions
    union all
    select * from iinsight_versions
)

select * from final

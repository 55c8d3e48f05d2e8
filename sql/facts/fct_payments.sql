-- Payments applied to invoices, one row per (source_system, payment_id). Aiwyn only for now (iinsight
-- has no payments table yet). Only rows with is_confirmed reduce an invoice's open amount, and not once
-- deleted: is_deleted / deleted_at say the payment vanished from the source (`aiwyn.deletions`); as of day
-- D it pays nothing when deleted_at < D + 1 day (00:00 UTC), so today a deleted payment counts nowhere.
-- `invoice_id` is text, matching fct_invoices.invoice_id; payment_date is the UTC calendar date.

with

stg_aiwyn__payments as (
    select * from staging.stg_aiwyn__payments
),

aiwyn_payments as (
    select
        'aiwyn' as source_system,
        cast(payment_id as varchar) as payment_id,
        cast(invoice_id as varchar) as invoice_id,
        payment_date,
        cast(payment_amount as decimal(18, 2)) as payment_amount,
        currency,
        payment_method,
        payment_status,
        is_confirmed,
        is_deleted,
        deleted_at
    from stg_aiwyn__payments
),

final as (
    select * from aiwyn_payments
)

select * from final

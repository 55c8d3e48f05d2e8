-- Data test: every Aiwyn payment applied to an invoice (invoice_id not null) points at a loaded invoice.
-- Checked only when Aiwyn invoices are loaded, and only for payments last changed no later than the newest
-- invoice change loaded: a payment of an invoice created after the invoices were read in this sync is
-- checked by the next sync. A soft-deleted invoice is still loaded (kept, flagged), so its payments pass; a
-- soft-deleted payment counts nowhere and is not checked (its invoice may have vanished with it before we
-- loaded it). Returns source_system, payment_id, invoice_id, message.

with

stg_aiwyn__payments as (
    select * from staging.stg_aiwyn__payments
),

stg_aiwyn__invoices as (
    select * from staging.stg_aiwyn__invoices
),

newest_invoice_change as (
    select max(updated_at) as updated_at
    from stg_aiwyn__invoices
),

final as (
    select
        'aiwyn' as source_system,
        stg_aiwyn__payments.payment_id,
        stg_aiwyn__payments.invoice_id,
        'payment of an invoice that is not loaded' as message
    from stg_aiwyn__payments
    cross join newest_invoice_change
    left join stg_aiwyn__invoices
        on stg_aiwyn__payments.invoice_id = stg_aiwyn__invoices.invoice_id
    where stg_aiwyn__payments.invoice_id is not null
        and not stg_aiwyn__payments.is_deleted
        and stg_aiwyn__invoices.invoice_id is null
        and stg_aiwyn__payments.updated_at <= newest_invoice_change.updated_at
)

select * from final

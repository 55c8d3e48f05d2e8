-- Data test: every Aiwyn and iinsight payment applied to an invoice (invoice_id not null) points at a loaded
-- invoice of its source. Checked only for payments last changed no later than the newest invoice change
-- loaded (of the same source): a payment of an invoice created after the invoices were read in this sync is
-- checked by the next sync. A soft-deleted invoice is still loaded (kept, flagged), so its payments pass; a
-- soft-deleted Aiwyn payment counts nowhere and is not checked (its invoice may have vanished with it before
-- we loaded it), nor is a voided iinsight payment (API v1 does not list reversed invoices, which may hold
-- voided payments). Returns source_system, payment_id, invoice_id, message.

with

stg_aiwyn__payments as (
    select * from staging.stg_aiwyn__payments
),

stg_aiwyn__invoices as (
    select * from staging.stg_aiwyn__invoices
),

stg_iinsight__payments as (
    select * from staging.stg_iinsight__payments
),

stg_iinsight__invoices as (
    select * from staging.stg_iinsight__invoices
),

newest_aiwyn_invoice_change as (
    select max(updated_at) as updated_at
    from stg_aiwyn__invoices
),

newest_iinsight_invoice_change as (
    select max(updated_at) as updated_at
    from stg_iinsight__invoices
),

aiwyn_orphans as (
    select
        'aiwyn' as source_system,
        cast(stg_aiwyn__payments.payment_id as varchar) as payment_id,
        cast(stg_aiwyn__payments.invoice_id as varchar) as invoice_id
    from stg_aiwyn__payments
    cross join newest_aiwyn_invoice_change
    left join stg_aiwyn__invoices
        on stg_aiwyn__payments.invoice_id = stg_aiwyn__invoices.invoice_id
    where stg_aiwyn__payments.invoice_id is not null
        and not stg_aiwyn__payments.is_deleted
        and stg_aiwyn__invoices.invoice_id is null
        and stg_aiwyn__payments.updated_at <= newest_aiwyn_invoice_change.updated_at
),

iinsight_orphans as (
    select
        'iinsight' as source_system,
        stg_iinsight__payments.payment_id,
        stg_iinsight__payments.invoice_id
    from stg_iinsight__payments
    cross join newest_iinsight_invoice_change
    left join stg_iinsight__invoices
        on stg_iinsight__payments.invoice_id = stg_iinsight__invoices.invoice_id
    where stg_iinsight__payments.invoice_id is not null
        and stg_iinsight__payments.is_active
        and stg_iinsight__invoices.invoice_id is null
        and stg_iinsight__payments.updated_at <= newest_iinsight_invoice_change.updated_at
),

final as (
    select
        source_system,
        payment_id,
        invoice_id,
        'payment of an invoice that is not loaded' as message
    from aiwyn_orphans
    union all
    select
        source_system,
        payment_id,
        invoice_id,
        'payment of an invoice that is not loaded' as message
    from iinsight_orphans
)

select * from final

-- Data test: every Aiwyn and iinsight payment applied to an invoice (invoice_id not null) points at a loaded
-- invoice of its source. Checked only for payments last changed no later than the newest invoice change
-- loaded (of the same source): a payment of an invoice created after the invoices were read in this sync is
-- checked by the next sync. A soft-deleted invoice is still loaded (kept, flagged), so its payments pass; a
-- soft-deleted Aiwyn payment counts nowhere and is not checked (its invoice may have vanished with it before
-- we loaded it), nor is a voided iinsight payment (API v1 does not list reversed invoices, which may hold
-- voided payments), nor a payment of a quarantined invoice (in `<source>.quarantine`: by its key, or, for an
-- iinsight invoice quarantined without an id, by the invoice number in the quarantined record's JSON), nor an
-- iinsight payment loaded by a sync in which an invoice page could not be read (quarantined as its request,
-- `GET ...`, in the same load): the invoices of that page are read again by the next sync.
-- Returns source_system, payment_id, invoice_id, message.

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

aiwyn_quarantine as (
    select
        entity,
        record_key
    from aiwyn.quarantine
),

iinsight_quarantine as (
    select
        entity,
        record_key,
        payload,
        _dlt_load_id
    from iinsight.quarantine
),

iinsight_payment_loads as (
    select
        payment_id,
        _dlt_load_id
    from iinsight.payments
),

unreadable_invoice_page_loads as (
    select distinct _dlt_load_id
    from iinsight_quarantine
    where entity = 'invoices'
        and record_key like 'GET %'
        and _dlt_load_id is not null
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
    left join stg_aiwyn__invoices
        on stg_aiwyn__payments.invoice_id = stg_aiwyn__invoices.invoice_id
    where stg_aiwyn__payments.invoice_id is not null
        and not stg_aiwyn__payments.is_deleted
        and stg_aiwyn__invoices.invoice_id is null
        and stg_aiwyn__payments.updated_at <= (select updated_at from newest_aiwyn_invoice_change)
        and not exists (
            select 1
            from aiwyn_quarantine
            where aiwyn_quarantine.entity = 'invoices'
                and aiwyn_quarantine.record_key = cast(stg_aiwyn__payments.invoice_id as varchar)
        )
),

iinsight_orphans as (
    select
        'iinsight' as source_system,
        stg_iinsight__payments.payment_id,
        stg_iinsight__payments.invoice_id
    from stg_iinsight__payments
    left join stg_iinsight__invoices
        on stg_iinsight__payments.invoice_id = stg_iinsight__invoices.invoice_id
    inner join iinsight_payment_loads
        on stg_iinsight__payments.payment_id = iinsight_payment_loads.payment_id
    where stg_iinsight__payments.invoice_id is not null
        and iinsight_payment_loads._dlt_load_id not in (select _dlt_load_id from unreadable_invoice_page_loads)
        and stg_iinsight__payments.is_active
        and stg_iinsight__invoices.invoice_id is null
        and stg_iinsight__payments.updated_at <= (select updated_at from newest_iinsight_invoice_change)
        and not exists (
            select 1
            from iinsight_quarantine
            where iinsight_quarantine.entity = 'invoices'
                and (
                    iinsight_quarantine.record_key = stg_iinsight__payments.invoice_id
                    or iinsight_quarantine.payload
                    like ('%"invoice_number":"' || stg_iinsight__payments.invoice_number || '"%')
                )
        )
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

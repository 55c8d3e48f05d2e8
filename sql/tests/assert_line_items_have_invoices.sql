-- Data test: every invoice line item (Aiwyn line items, iinsight items) belongs to a loaded invoice of its
-- source (line items are loaded with their invoice, so any orphan is an error). Returns source_system,
-- invoice_id, line_count, message.

with

aiwyn_orphans as (
    select
        'aiwyn' as source_system,
        cast(lines.invoice_id as varchar) as invoice_id,
        count(*) as line_count
    from staging.stg_aiwyn__invoice_line_items as lines
    left join staging.stg_aiwyn__invoices as invoices
        on lines.invoice_id = invoices.invoice_id
    where invoices.invoice_id is null
    group by lines.invoice_id
),

iinsight_orphans as (
    select
        'iinsight' as source_system,
        items.invoice_id,
        count(*) as line_count
    from staging.stg_iinsight__invoice_items as items
    left join staging.stg_iinsight__invoices as invoices
        on items.invoice_id = invoices.invoice_id
    where invoices.invoice_id is null
    group by items.invoice_id
),

final as (
    select
        source_system,
        invoice_id,
        line_count,
        'line items of an invoice that is not loaded' as message
    from aiwyn_orphans
    union all
    select
        source_system,
        invoice_id,
        line_count,
        'line items of an invoice that is not loaded' as message
    from iinsight_orphans
)

select * from final

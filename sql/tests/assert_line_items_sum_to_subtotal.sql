-- Data test: an Aiwyn invoice's line items sum to its subtotal, exactly (invoices with line items and a
-- subtotal). Returns invoice_id, subtotal_amount, line_total, message.

with

line_totals as (
    select
        invoice_id,
        sum(line_amount) as line_total
    from staging.stg_aiwyn__invoice_line_items
    group by invoice_id
),

final as (
    select
        invoices.invoice_id,
        invoices.subtotal_amount,
        line_totals.line_total,
        'line items do not sum to the subtotal' as message
    from staging.stg_aiwyn__invoices as invoices
    inner join line_totals
        on invoices.invoice_id = line_totals.invoice_id
    where invoices.subtotal_amount is not null
        and invoices.subtotal_amount <> line_totals.line_total
)

select * from final

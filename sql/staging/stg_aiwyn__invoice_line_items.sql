-- Aiwyn invoice line items (from the invoice detail), one row per line.

with

invoice_line_items as (
    select
        invoice_id,
        id,
        description,
        quantity,
        unit_price,
        amount,
        tax_rate
    from aiwyn.invoice_line_items
),

final as (
    select
        invoice_id,
        id as line_item_id,
        description,
        quantity,
        unit_price,
        amount as line_amount,
        tax_rate
    from invoice_line_items
)

select * from final

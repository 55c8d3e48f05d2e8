-- Data test: an invoice's total is its parts within a cent: Aiwyn total_amount = subtotal + tax + interest
-- (a missing tax or interest counts as 0), iinsight total = sub_total + total_tax (when both are given).
-- Returns source_system, invoice_id, total_amount, parts_amount, message.

with

aiwyn as (
    select
        'aiwyn' as source_system,
        cast(invoice_id as varchar) as invoice_id,
        total_amount,
        subtotal_amount + coalesce(tax_amount, 0) + coalesce(interest_amount, 0) as parts_amount
    from staging.stg_aiwyn__invoices
    where subtotal_amount is not null
),

iinsight as (
    select
        'iinsight' as source_system,
        invoice_id,
        total_amount,
        subtotal_amount + tax_amount as parts_amount
    from staging.stg_iinsight__invoices
    where subtotal_amount is not null
        and tax_amount is not null
),

both_sources as (
    select * from aiwyn
    union all
    select * from iinsight
),

final as (
    select
        source_system,
        invoice_id,
        total_amount,
        parts_amount,
        'total is not subtotal + tax (+ interest) within a cent' as message
    from both_sources
    where abs(total_amount - parts_amount) > 0.01
)

select * from final

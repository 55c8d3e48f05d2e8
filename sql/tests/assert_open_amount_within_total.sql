-- Data test: as of today, an invoice counting toward AR owes between 0 and its total (between the total
-- and 0 for a credit note with a negative total): no overpayment, no payable above the total.
-- Returns source_system, invoice_id, total_amount, open_amount, message.

with

rpt_invoices_as_of as (
    select * from reports.rpt_invoices_as_of
),

final as (
    select
        source_system,
        invoice_id,
        total_amount,
        open_amount,
        'open amount outside 0..total' as message
    from rpt_invoices_as_of
    where counts_toward_ar
        and (
            open_amount < least(total_amount, 0)
            or open_amount > greatest(total_amount, 0)
        )
)

select * from final

-- Data test: as of today, an invoice counting toward AR owes between 0 and its total (between the total
-- and 0 for a credit note with a negative total): no overpayment, no payable above the total. An invoice
-- whose vendor figures disagree (listed by rpt_exceptions, e.g. iinsight payments above the total) is a
-- vendor inconsistency, reported there and not failed here.
-- Returns source_system, invoice_id, total_amount, open_amount, message.

with

rpt_invoices_as_of as (
    select * from reports.rpt_invoices_as_of
),

rpt_exceptions as (
    select * from reports.rpt_exceptions
),

final as (
    select
        rpt_invoices_as_of.source_system,
        rpt_invoices_as_of.invoice_id,
        rpt_invoices_as_of.total_amount,
        rpt_invoices_as_of.open_amount,
        'open amount outside 0..total' as message
    from rpt_invoices_as_of
    left join rpt_exceptions
        on rpt_invoices_as_of.source_system = rpt_exceptions.source_system
        and rpt_invoices_as_of.invoice_id = rpt_exceptions.invoice_id
    where rpt_invoices_as_of.counts_toward_ar
        and rpt_exceptions.invoice_id is null
        and (
            rpt_invoices_as_of.open_amount < least(rpt_invoices_as_of.total_amount, 0)
            or rpt_invoices_as_of.open_amount > greatest(rpt_invoices_as_of.total_amount, 0)
        )
)

select * from final

-- AR aging as of a date (QuickBooks' "Report Date" method), one row per open invoice, oldest first.
--   as_of_date: today (UTC) in the view; pipelines.models.report() runs it as of any date (the `as_of` CTE of
--   rpt_invoices_as_of).
--   From rpt_invoices_as_of: each invoice in the state it had at the end of as_of_date (status, due date,
--   amounts, voiding from the version valid then), dated on or before as_of_date, counting toward AR (not
--   voided, reversed, cancelled, draft, nor soft-deleted by the end of as_of_date) and with open_amount <> 0.
--   open_amount: total minus the confirmed payments dated on or before as_of_date that still counted at its
--     end (not deleted, an iinsight payment not voided by then), or, when iinsight's payments cannot be read,
--     the version's `total_amount_payable`.
--   open_amount_basis: which of the two ('payments' or 'vendor_payable'), appended after the original columns.
--   days_past_due: as_of_date - due_date (invoice_date when there is no due date; or always invoice_date
--     with the invoice-date aging basis).
--   aging_bucket: configured in reports.aging_buckets; default 'current' (<= 0), '1-30', '31-60', '61-90', '91+'.

with

rpt_invoices_as_of as (
    select * from reports.rpt_invoices_as_of
),

final as (
    select
        source_system,
        invoice_id,
        invoice_number,
        client_name,
        invoice_date,
        due_date,
        open_amount,
        days_past_due,
        aging_bucket,
        open_amount_basis
    from rpt_invoices_as_of
    where counts_toward_ar
        and open_amount <> 0
)

select * from final
order by days_past_due desc, client_name, source_system, invoice_id

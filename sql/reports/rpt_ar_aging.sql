-- AR aging as of a date (QuickBooks' "Report Date" method), one row per open invoice.
--   as_of_date: today (UTC) here; pipelines.models.report() swaps the `as_of` CTE for a fixed date.
--   Invoices dated on or before as_of_date that count toward AR (not voided, reversed, cancelled, draft).
--   open_amount: total minus CONFIRMED payments dated on or before as_of_date (Aiwyn), or the vendor's
--     current open amount (iinsight `total_amount_payable`); invoices with open_amount = 0 are left out.
--   days_past_due: as_of_date - due_date (invoice_date when there is no due date).
--   aging_bucket: 'current' (<= 0), '1-30', '31-60', '61-90', '91+'.

with

as_of as (
    select cast(current_timestamp at time zone 'UTC' as date) as as_of_date
),

fct_invoices as (
    select * from facts.fct_invoices
),

fct_payments as (
    select * from facts.fct_payments
),

payments_to_date as (
    select
        fct_payments.source_system,
        fct_payments.invoice_id,
        sum(fct_payments.payment_amount) as paid_amount
    from fct_payments
    cross join as_of
    where fct_payments.is_confirmed
        and fct_payments.invoice_id is not null
        and fct_payments.payment_date <= as_of.as_of_date
    group by fct_payments.source_system, fct_payments.invoice_id
),

invoices_to_date as (
    select
        fct_invoices.source_system,
        fct_invoices.invoice_id,
        fct_invoices.invoice_number,
        fct_invoices.client_name,
        fct_invoices.invoice_date,
        fct_invoices.due_date,
        case
            when fct_invoices.is_open_from_payments
                then fct_invoices.total_amount - coalesce(payments_to_date.paid_amount, 0)
            else fct_invoices.vendor_open_amount
        end as open_amount,
        as_of.as_of_date - coalesce(fct_invoices.due_date, fct_invoices.invoice_date) as days_past_due
    from fct_invoices
    cross join as_of
    left join payments_to_date
        on fct_invoices.source_system = payments_to_date.source_system
        and fct_invoices.invoice_id = payments_to_date.invoice_id
    where fct_invoices.counts_toward_ar
        and fct_invoices.invoice_date <= as_of.as_of_date
),

final as (
    select
        source_system,
        invoice_id,
        invoice_number,
        client_name,
        invoice_date,
        due_date,
        cast(open_amount as decimal(18, 2)) as open_amount,
        cast(days_past_due as integer) as days_past_due,
        case
            when days_past_due <= 0 then 'current'
            when days_past_due <= 30 then '1-30'
            when days_past_due <= 60 then '31-60'
            when days_past_due <= 90 then '61-90'
            else '91+'
        end as aging_bucket
    from invoices_to_date
    where open_amount <> 0
)

select * from final
order by days_past_due desc, client_name, source_system, invoice_id

-- Exceptions: invoices whose vendor figures disagree, one row per invoice, largest difference first. Today:
-- every active iinsight invoice (counting toward AR) whose `total_amount_payable` differs from its total minus
-- its payments (every active payment, whatever its date: what the vendor's payable reflects), checked only when
-- iinsight's payments can be read (open_amount_basis 'payments'). arwip's AR uses total minus payments; the
-- vendor's figure is the cross-check. A sync prints how many there are and never fails for them.
--   as_of_date: today (UTC) in the view; pipelines.models.report() swaps the `as_of` CTE for a fixed date,
--     which only limits the list to invoices dated on or before it (the figures compared are today's).
--   paid_amount: the payments that count today; open_amount: total_amount - paid_amount;
--   vendor_open_amount: the vendor's payable; difference: vendor_open_amount - open_amount.

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

payments_today as (
    select
        source_system,
        invoice_id,
        sum(payment_amount) as paid_amount
    from fct_payments
    where is_confirmed
        and counts_until is null
        and invoice_id is not null
    group by source_system, invoice_id
),

compared as (
    select
        fct_invoices.source_system,
        fct_invoices.invoice_id,
        fct_invoices.invoice_number,
        fct_invoices.client_name,
        fct_invoices.invoice_date,
        fct_invoices.total_amount,
        coalesce(payments_today.paid_amount, 0) as paid_amount,
        fct_invoices.total_amount - coalesce(payments_today.paid_amount, 0) as open_amount,
        fct_invoices.vendor_open_amount
    from fct_invoices
    cross join as_of
    left join payments_today
        on fct_invoices.source_system = payments_today.source_system
        and fct_invoices.invoice_id = payments_today.invoice_id
    where fct_invoices.source_system = 'iinsight'
        and fct_invoices.open_amount_basis = 'payments'
        and fct_invoices.counts_toward_ar
        and fct_invoices.invoice_date <= as_of.as_of_date
),

final as (
    select
        source_system,
        invoice_id,
        invoice_number,
        client_name,
        invoice_date,
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(paid_amount as decimal(18, 2)) as paid_amount,
        cast(open_amount as decimal(18, 2)) as open_amount,
        cast(vendor_open_amount as decimal(18, 2)) as vendor_open_amount,
        cast(vendor_open_amount - open_amount as decimal(18, 2)) as difference,
        'total_amount_payable differs from total minus payments' as exception
    from compared
    where vendor_open_amount <> open_amount
)

select * from final
order by abs(difference) desc, source_system, invoice_id

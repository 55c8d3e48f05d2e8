-- Aiwyn invoices, one row per invoice.
-- `invoice_date` / `due_date` are the UTC calendar dates of the vendor's timestamps
-- (a due timestamp of 2024-12-31T23:59:59Z is due 2024-12-31).

with

invoices as (
    select
        id,
        invoice_number,
        client_id,
        client_name,
        job_id,
        status,
        invoice_date,
        due_date,
        subtotal,
        tax_amount,
        interest_amount,
        total_amount,
        paid_amount,
        outstanding_amount,
        currency,
        description,
        created_at,
        updated_at
    from aiwyn.invoices
),

final as (
    select
        id as invoice_id,
        invoice_number,
        client_id,
        client_name,
        job_id,
        upper(status) as invoice_status,
        invoice_date as invoiced_at,
        cast(invoice_date at time zone 'UTC' as date) as invoice_date,
        due_date as due_at,
        cast(due_date at time zone 'UTC' as date) as due_date,
        subtotal as subtotal_amount,
        tax_amount,
        interest_amount,
        total_amount,
        paid_amount as vendor_paid_amount,
        outstanding_amount as vendor_outstanding_amount,
        currency,
        description,
        created_at,
        updated_at
    from invoices
)

select * from final

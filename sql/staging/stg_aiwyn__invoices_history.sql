-- Every version of the Aiwyn invoices the source loaded, one row per (id, updated_at): the raw
-- `aiwyn.invoices_history` (SCD2 source) with exactly the columns and renames of stg_aiwyn__invoices.
-- The versions and their validity ranges are built in facts.int_aiwyn__invoice_versions.

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
    from aiwyn.invoices_history
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

-- Aiwyn invoices, one row per invoice.
-- also built over aiwyn.invoices_history as stg_aiwyn__invoices_history: every version the source loaded, one
-- row per (invoice_id, updated_at), with exactly these columns (pipelines.models.history_model); its
-- `is_deleted` / `deleted_at` are the deletion state today (deletions keep no history).
-- versions in facts.int_aiwyn__invoice_versions by invoice_id
-- `invoice_date` / `due_date` are the UTC calendar dates of the vendor's timestamps
-- (a due timestamp of 2024-12-31T23:59:59Z is due 2024-12-31).
-- The only join: `is_deleted` / `deleted_at` from the soft deletes in `aiwyn.deletions` (entity 'invoices', the
-- id as text): an invoice that vanished from Aiwyn's full id list (`arwip sync --reconcile`); a row whose
-- `deleted_at` is null means it came back.

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

deletions as (
    select
        entity,
        guid,
        deleted_at
    from aiwyn.deletions
),

deleted_invoices as (
    select
        guid,
        max(deleted_at) as deleted_at
    from deletions
    where entity = 'invoices'
        and deleted_at is not null
    group by guid
),

final as (
    select
        invoices.id as invoice_id,
        invoices.invoice_number,
        invoices.client_id,
        invoices.client_name,
        invoices.job_id,
        upper(invoices.status) as invoice_status,
        invoices.invoice_date as invoiced_at,
        cast(invoices.invoice_date at time zone 'UTC' as date) as invoice_date,
        invoices.due_date as due_at,
        cast(invoices.due_date at time zone 'UTC' as date) as due_date,
        invoices.subtotal as subtotal_amount,
        invoices.tax_amount,
        invoices.interest_amount,
        invoices.total_amount,
        invoices.paid_amount as vendor_paid_amount,
        invoices.outstanding_amount as vendor_outstanding_amount,
        invoices.currency,
        invoices.description,
        invoices.created_at,
        invoices.updated_at,
        deleted_invoices.guid is not null as is_deleted,
        deleted_invoices.deleted_at
    from invoices
    left join deleted_invoices
        on cast(invoices.id as varchar) = deleted_invoices.guid
)

select * from final

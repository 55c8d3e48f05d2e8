-- iinsight invoices, one row per invoice. `bill_to_name` (the API's `to`) is the debtor.
-- also built over iinsight.invoices_history as stg_iinsight__invoices_history: every version the source
-- loaded, one row per (invoice_id, updated_at), with exactly these columns (pipelines.models.history_model);
-- its `is_deleted` / `deleted_at` are the deletion state today (deletions keep no history).
-- versions in facts.int_iinsight__invoice_versions by invoice_id
-- `amount_payable` (`total_amount_payable`) is what the vendor says is still owed today: the open amount when
-- payments cannot be read (fct_invoices.open_amount_basis), else a cross-check (reports.rpt_exceptions).
-- The only join: `is_deleted` / `deleted_at` from the soft deletes in `iinsight.deletions` (entity 'invoices'):
-- an invoice that vanished from iinsight's full id list (`arwip sync --reconcile`; on API v1 also a reversed
-- invoice, since v1 lists only active and voided ones); a row whose `deleted_at` is null means it came back.

with

invoices as (
    select
        invoice_id,
        company_id,
        "to",
        to_attention,
        to_address,
        to_email,
        abn,
        invoice_number,
        case_number,
        terms,
        date_of_invoice,
        due_date,
        notes,
        total_amount_payable,
        client,
        claim_no,
        provider_number,
        assigned_to,
        start_date,
        end_date,
        contact_id,
        sub_total,
        total_tax,
        total,
        office_department_id,
        office_department_name,
        last_update,
        last_update_utc,
        status
    from iinsight.invoices
),

deletions as (
    select
        entity,
        guid,
        deleted_at
    from iinsight.deletions
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
        invoices.invoice_id,
        invoices.company_id,
        invoices."to" as bill_to_name,
        invoices.to_attention as bill_to_attention,
        invoices.to_address as bill_to_address,
        invoices.to_email as bill_to_email,
        invoices.abn,
        invoices.invoice_number,
        invoices.case_number,
        invoices.terms,
        invoices.date_of_invoice as invoice_date,
        invoices.due_date,
        invoices.notes,
        invoices.total_amount_payable as amount_payable,
        invoices.client as case_client_name,
        invoices.claim_no as claim_number,
        invoices.provider_number,
        invoices.assigned_to,
        invoices.start_date as service_start_date,
        invoices.end_date as service_end_date,
        invoices.contact_id,
        invoices.sub_total as subtotal_amount,
        invoices.total_tax as tax_amount,
        invoices.total as total_amount,
        invoices.office_department_id,
        invoices.office_department_name,
        invoices.last_update as last_update_local_text,
        invoices.last_update_utc as updated_at,
        upper(invoices.status) as invoice_status,
        deleted_invoices.guid is not null as is_deleted,
        deleted_invoices.deleted_at
    from invoices
    left join deleted_invoices
        on invoices.invoice_id = deleted_invoices.guid
)

select * from final

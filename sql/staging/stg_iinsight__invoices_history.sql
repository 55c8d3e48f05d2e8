-- Every version of the iinsight invoices the source loaded, one row per (invoice_id, last_update_utc): the raw
-- `iinsight.invoices_history` (SCD2 source) with exactly the columns and renames of stg_iinsight__invoices.
-- The versions and their validity ranges are built in facts.int_iinsight__invoice_versions.

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
    from iinsight.invoices_history
),

final as (
    select
        invoice_id,
        company_id,
        "to" as bill_to_name,
        to_attention as bill_to_attention,
        to_address as bill_to_address,
        to_email as bill_to_email,
        abn,
        invoice_number,
        case_number,
        terms,
        date_of_invoice as invoice_date,
        due_date,
        notes,
        total_amount_payable as amount_payable,
        client as case_client_name,
        claim_no as claim_number,
        provider_number,
        assigned_to,
        start_date as service_start_date,
        end_date as service_end_date,
        contact_id,
        sub_total as subtotal_amount,
        total_tax as tax_amount,
        total as total_amount,
        office_department_id,
        office_department_name,
        last_update as last_update_local_text,
        last_update_utc as updated_at,
        upper(status) as invoice_status
    from invoices
)

select * from final

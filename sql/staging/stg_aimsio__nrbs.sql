-- Aimsio non-recurring billable items (NRBs), one row per NRB as listed by Aimsio.
-- also built over aimsio.nrbs_history as stg_aimsio__nrbs_history: every version the source loaded, one row
-- per (nrb_guid, updated_at), with exactly these columns (pipelines.models.history_model); its `is_deleted` /
-- `deleted_at` are the deletion state today (deletions keep no history).
-- versions in facts.int_aimsio__nrb_versions by nrb_guid
-- The only join: `is_deleted` / `deleted_at` from the soft deletes in `aimsio.deletions`
-- (an NRB that vanished from Aimsio's list; a row whose `deleted_at` is null means it came back).

with

nrbs as (
    select
        nrb_guid,
        nrb_external_id,
        nrb_origin_reference,
        nrb_job_order_number,
        nrb_wbs_guid,
        nrb_wbs_shared_identifier,
        nrb_po_number,
        nrb_purchase_order_guid,
        nrb_purchase_order_cost_item_origin_reference,
        nrb_invoice_number,
        nrb_invoice_date,
        nrb_name,
        nrb_type_uname,
        nrb_type_name,
        nrb_document_type,
        nrb_account_type,
        nrb_is_billable,
        nrb_vendor_guid,
        nrb_vendor_code,
        nrb_rate,
        nrb_quantity,
        nrb_vendor_tax,
        nrb_upcharge,
        nrb_markup_applies_on,
        nrb_total_after_markup,
        nrb_is_exported,
        is_internal,
        nrb_should_reconcile_with_po,
        nrb_billed_in_guid,
        nrb_billed_in_name,
        nrb_file_name,
        nrb_notes,
        nrb_created_at,
        nrb_created_by_user_name,
        nrb_created_by_full_name,
        nrb_updated_at,
        nrb_line_items,
        nrb_parent_guid,
        nrb_parent_external_id
    from aimsio.nrbs
),

deletions as (
    select
        entity,
        guid,
        deleted_at
    from aimsio.deletions
),

deleted_nrbs as (
    select
        guid as nrb_guid,
        max(deleted_at) as deleted_at
    from deletions
    where entity = 'nrbs'
        and deleted_at is not null
    group by guid
),

final as (
    select
        nrbs.nrb_guid,
        nrbs.nrb_external_id as external_id,
        nrbs.nrb_origin_reference as origin_reference,
        nrbs.nrb_job_order_number as job_number,
        nrbs.nrb_wbs_guid as wbs_guid,
        nrbs.nrb_wbs_shared_identifier as wbs_shared_identifier,
        nrbs.nrb_po_number as po_number,
        nrbs.nrb_purchase_order_guid as purchase_order_guid,
        nrbs.nrb_purchase_order_cost_item_origin_reference as purchase_order_cost_item_origin_reference,
        nrbs.nrb_invoice_number as vendor_invoice_number,
        nrbs.nrb_invoice_date as vendor_invoiced_at,
        cast(nrbs.nrb_invoice_date at time zone 'UTC' as date) as vendor_invoice_date,
        nrbs.nrb_name,
        nrbs.nrb_type_uname,
        nrbs.nrb_type_name,
        nrbs.nrb_document_type as document_type,
        nrbs.nrb_account_type as account_type,
        coalesce(nrbs.nrb_is_billable, false) as is_billable,
        nrbs.nrb_vendor_guid as vendor_guid,
        nrbs.nrb_vendor_code as vendor_code,
        nrbs.nrb_rate as rate,
        nrbs.nrb_quantity as quantity,
        nrbs.nrb_vendor_tax as vendor_tax,
        nrbs.nrb_upcharge as upcharge,
        nrbs.nrb_markup_applies_on as markup_applies_on,
        nrbs.nrb_total_after_markup as total_after_markup,
        coalesce(nrbs.nrb_is_exported, false) as is_exported,
        coalesce(nrbs.is_internal, false) as is_internal,
        coalesce(nrbs.nrb_should_reconcile_with_po, false) as should_reconcile_with_po,
        nrbs.nrb_billed_in_guid as billed_in_guid,
        nrbs.nrb_billed_in_name as billed_in_name,
        nrbs.nrb_billed_in_guid is not null as is_billed,
        nrbs.nrb_file_name as file_name,
        nrbs.nrb_notes as notes,
        nrbs.nrb_created_at as created_at,
        cast(nrbs.nrb_created_at at time zone 'UTC' as date) as created_date,
        nrbs.nrb_created_by_user_name as created_by_user_name,
        nrbs.nrb_created_by_full_name as created_by_full_name,
        nrbs.nrb_updated_at as updated_at,
        nrbs.nrb_line_items as line_items_json,
        nrbs.nrb_parent_guid as parent_guid,
        nrbs.nrb_parent_external_id as parent_external_id,
        deleted_nrbs.nrb_guid is not null as is_deleted,
        deleted_nrbs.deleted_at
    from nrbs
    left join deleted_nrbs
        on nrbs.nrb_guid = deleted_nrbs.nrb_guid
)

select * from final

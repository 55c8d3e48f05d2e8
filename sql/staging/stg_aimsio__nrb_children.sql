-- Children of Aimsio AP-invoice NRBs (`nrbChildren`), one row per child: the breakdown of a parent
-- whose own total already covers them. `parent_guid` is the parent NRB.

with

nrb_children as (
    select
        nrb_guid,
        nrb_external_id,
        nrb_origin_reference,
        nrb_job_order_number,
        nrb_name,
        nrb_type_uname,
        nrb_type_name,
        nrb_document_type,
        nrb_account_type,
        nrb_is_billable,
        nrb_vendor_code,
        nrb_rate,
        nrb_quantity,
        nrb_vendor_tax,
        nrb_upcharge,
        nrb_total_after_markup,
        is_internal,
        nrb_billed_in_guid,
        nrb_created_at,
        nrb_updated_at,
        nrb_parent_guid,
        nrb_parent_external_id
    from aimsio.nrb_children
),

final as (
    select
        nrb_guid,
        nrb_external_id as external_id,
        nrb_origin_reference as origin_reference,
        nrb_job_order_number as job_number,
        nrb_name,
        nrb_type_uname,
        nrb_type_name,
        nrb_document_type as document_type,
        nrb_account_type as account_type,
        coalesce(nrb_is_billable, false) as is_billable,
        nrb_vendor_code as vendor_code,
        nrb_rate as rate,
        nrb_quantity as quantity,
        nrb_vendor_tax as vendor_tax,
        nrb_upcharge as upcharge,
        nrb_total_after_markup as total_after_markup,
        coalesce(is_internal, false) as is_internal,
        nrb_billed_in_guid as billed_in_guid,
        nrb_billed_in_guid is not null as is_billed,
        nrb_created_at as created_at,
        cast(nrb_created_at at time zone 'UTC' as date) as created_date,
        nrb_updated_at as updated_at,
        nrb_parent_guid as parent_guid,
        nrb_parent_external_id as parent_external_id
    from nrb_children
)

select * from final

-- Data test: no key of the staging models, facts and detail reports is null. Returns one row per relation
-- with null keys: relation, row_count, message.

with

null_keys as (
    select 'staging.stg_aiwyn__invoices' as relation, count(*) as row_count
    from staging.stg_aiwyn__invoices
    where invoice_id is null
    union all
    select 'staging.stg_aiwyn__invoice_line_items', count(*)
    from staging.stg_aiwyn__invoice_line_items
    where invoice_id is null or line_item_id is null
    union all
    select 'staging.stg_aiwyn__payments', count(*)
    from staging.stg_aiwyn__payments
    where payment_id is null
    union all
    select 'staging.stg_aiwyn__wip', count(*)
    from staging.stg_aiwyn__wip
    where wip_entry_id is null
    union all
    select 'staging.stg_aimsio__nrbs', count(*)
    from staging.stg_aimsio__nrbs
    where nrb_guid is null
    union all
    select 'staging.stg_aimsio__job_orders', count(*)
    from staging.stg_aimsio__job_orders
    where job_guid is null
    union all
    select 'staging.stg_iinsight__invoices', count(*)
    from staging.stg_iinsight__invoices
    where invoice_id is null
    union all
    select 'staging.stg_iinsight__invoice_items', count(*)
    from staging.stg_iinsight__invoice_items
    where invoice_id is null or item_number is null
    union all
    select 'staging.stg_iinsight__payments', count(*)
    from staging.stg_iinsight__payments
    where payment_id is null
    union all
    select 'staging.stg_iinsight__billings', count(*)
    from staging.stg_iinsight__billings
    where billing_id is null
    union all
    select 'facts.fct_invoices', count(*)
    from facts.fct_invoices
    where source_system is null or invoice_id is null
    union all
    select 'facts.fct_payments', count(*)
    from facts.fct_payments
    where source_system is null or payment_id is null
    union all
    select 'facts.fct_wip', count(*)
    from facts.fct_wip
    where source_system is null or wip_id is null
    union all
    select 'facts.fct_invoice_versions', count(*)
    from facts.fct_invoice_versions
    where source_system is null or invoice_id is null or valid_from is null
    union all
    select 'facts.fct_wip_versions', count(*)
    from facts.fct_wip_versions
    where source_system is null or wip_id is null or valid_from is null
    union all
    select 'reports.rpt_ar_aging', count(*)
    from reports.rpt_ar_aging
    where source_system is null or invoice_id is null
    union all
    select 'reports.rpt_wip_outstanding', count(*)
    from reports.rpt_wip_outstanding
    where source_system is null or wip_id is null
)

select
    relation,
    row_count,
    'null key' as message
from null_keys
where row_count > 0

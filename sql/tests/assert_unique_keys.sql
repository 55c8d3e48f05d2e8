-- Data test: every key of the staging models, facts and detail reports is unique. Returns one row per
-- duplicated key: relation, key_value (parts joined by '/'), row_count, message.

with

duplicates as (
    select 'staging.stg_aiwyn__invoices' as relation, cast(invoice_id as varchar) as key_value, count(*) as row_count
    from staging.stg_aiwyn__invoices
    group by invoice_id
    having count(*) > 1
    union all
    select 'staging.stg_aiwyn__invoice_line_items', cast(invoice_id as varchar) || '/' || cast(line_item_id as varchar), count(*)
    from staging.stg_aiwyn__invoice_line_items
    group by invoice_id, line_item_id
    having count(*) > 1
    union all
    select 'staging.stg_aiwyn__payments', cast(payment_id as varchar), count(*)
    from staging.stg_aiwyn__payments
    group by payment_id
    having count(*) > 1
    union all
    select 'staging.stg_aiwyn__wip', cast(wip_entry_id as varchar), count(*)
    from staging.stg_aiwyn__wip
    group by wip_entry_id
    having count(*) > 1
    union all
    select 'staging.stg_aimsio__nrbs', nrb_guid, count(*)
    from staging.stg_aimsio__nrbs
    group by nrb_guid
    having count(*) > 1
    union all
    select 'staging.stg_aimsio__job_orders', job_guid, count(*)
    from staging.stg_aimsio__job_orders
    group by job_guid
    having count(*) > 1
    union all
    select 'staging.stg_iinsight__invoices', invoice_id, count(*)
    from staging.stg_iinsight__invoices
    group by invoice_id
    having count(*) > 1
    union all
    select 'staging.stg_iinsight__invoice_items', invoice_id || '/' || cast(item_number as varchar), count(*)
    from staging.stg_iinsight__invoice_items
    group by invoice_id, item_number
    having count(*) > 1
    union all
    select 'staging.stg_iinsight__payments', payment_id, count(*)
    from staging.stg_iinsight__payments
    group by payment_id
    having count(*) > 1
    union all
    select 'staging.stg_iinsight__billings', billing_id, count(*)
    from staging.stg_iinsight__billings
    group by billing_id
    having count(*) > 1
    union all
    select 'facts.fct_invoices', source_system || '/' || invoice_id, count(*)
    from facts.fct_invoices
    group by source_system, invoice_id
    having count(*) > 1
    union all
    select 'facts.fct_payments', source_system || '/' || payment_id, count(*)
    from facts.fct_payments
    group by source_system, payment_id
    having count(*) > 1
    union all
    select 'facts.fct_wip', source_system || '/' || wip_id, count(*)
    from facts.fct_wip
    group by source_system, wip_id
    having count(*) > 1
    union all
    select 'facts.fct_invoice_versions', source_system || '/' || invoice_id || '/' || cast(valid_from as varchar), count(*)
    from facts.fct_invoice_versions
    group by source_system, invoice_id, valid_from
    having count(*) > 1
    union all
    select 'facts.fct_wip_versions', source_system || '/' || wip_id || '/' || cast(valid_from as varchar), count(*)
    from facts.fct_wip_versions
    group by source_system, wip_id, valid_from
    having count(*) > 1
    union all
    select 'reports.rpt_ar_aging', source_system || '/' || invoice_id, count(*)
    from reports.rpt_ar_aging
    group by source_system, invoice_id
    having count(*) > 1
    union all
    select 'reports.rpt_wip_outstanding', source_system || '/' || wip_id, count(*)
    from reports.rpt_wip_outstanding
    group by source_system, wip_id
    having count(*) > 1
    union all
    select 'reports.rpt_exceptions', source_system || '/' || invoice_id, count(*)
    from reports.rpt_exceptions
    group by source_system, invoice_id
    having count(*) > 1
)

select
    relation,
    key_value,
    row_count,
    'duplicate key' as message
from duplicates

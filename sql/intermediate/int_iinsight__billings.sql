-- iinsight billings as work in progress, one row per billing (deleted ones too, flagged), when billings could
-- be read in the latest sync (int_iinsight__availability; otherwise no rows: iinsight work is left out).
--   client_name: the bill-to (`to`) of the case's most recent invoice holding any of its billed work (latest
--     invoice date, then highest invoice id), which is who the work will likely be billed to; 'case <id>' when
--     no invoice of the case is known. job: 'case <id>'. wip_type: TIME (time-based) or UNIT.
--   logged_date: the work date; wip_value: quantity x unit_charge (before tax).
--   billed_on: the date from which the billing is billed, the date of the invoice it is on (null while unbilled;
--     0001-01-01 when that invoice is not loaded: billed as far back as any report looks). As of a date D the
--     billing is outstanding when logged_date <= D and (billed_on is null or billed_on > D), until deleted.

with

stg_iinsight__billings as (
    select * from staging.stg_iinsight__billings
),

stg_iinsight__invoices as (
    select * from staging.stg_iinsight__invoices
),

int_iinsight__availability as (
    select * from facts.int_iinsight__availability
),

invoiced_cases as (
    select
        stg_iinsight__billings.case_id,
        stg_iinsight__invoices.bill_to_name,
        row_number() over (
            partition by stg_iinsight__billings.case_id
            order by stg_iinsight__invoices.invoice_date desc, stg_iinsight__invoices.invoice_id desc
        ) as case_rank
    from stg_iinsight__billings
    inner join stg_iinsight__invoices
        on stg_iinsight__billings.invoice_id = stg_iinsight__invoices.invoice_id
    where stg_iinsight__billings.case_id is not null
),

case_clients as (
    select
        case_id,
        bill_to_name
    from invoiced_cases
    where case_rank = 1
),

final as (
    select
        billings.billing_id,
        billings.case_id,
        billings.invoice_id,
        coalesce(case_clients.bill_to_name, 'case ' || billings.case_id, 'no case') as client_name,
        coalesce('case ' || billings.case_id, 'no case') as job,
        case when billings.is_time_based then 'TIME' else 'UNIT' end as wip_type,
        billings.work_value as wip_value,
        billings.is_deleted,
        billings.work_date as logged_date,
        case
            when not billings.is_billed then null
            else coalesce(stg_iinsight__invoices.invoice_date, cast('0001-01-01' as date))
        end as billed_on,
        billings.inserted_at,
        billings.deleted_at
    from stg_iinsight__billings as billings
    cross join int_iinsight__availability
    left join stg_iinsight__invoices
        on billings.invoice_id = stg_iinsight__invoices.invoice_id
    left join case_clients
        on billings.case_id = case_clients.case_id
    where int_iinsight__availability.has_billings
)

select * from final

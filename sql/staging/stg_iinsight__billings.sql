-- iinsight billings (recorded work, billed or not), one row per billing (iinsight.md §7). Billings have no
-- change timestamp, hence no history: the billing's state as of a past date comes from its invoice's date
-- (int_iinsight__billings).
--   work_date: `reference_date` (the work day, epoch seconds at 12:00 UTC) as a UTC calendar date;
--   invoice_id: the iinsight invoice the billing is on, null while unbilled (`invoice` "0"); a billing keeps
--     it when that invoice is voided or reversed;
--   work_value: quantity x unit_charge, the value of the work before tax (CONTRACT.md "iinsight billings").
-- The only join: `is_deleted` / `deleted_at` from the soft deletes in `iinsight.deletions` (entity 'billings'):
-- a billing that vanished from the API (only unbilled billings are deleted); see sources/iinsight/billings.py.

with

billings as (
    select
        id,
        case_id,
        time_based,
        description,
        estimate_link,
        employee,
        team,
        reference_date,
        start_time,
        reference_time,
        quantity,
        unit_cost,
        unit_charge,
        tax_amount,
        tax_rate,
        total_charge,
        charge_code,
        invoice,
        notes,
        time_inserted
    from iinsight.billings
),

deletions as (
    select
        entity,
        guid,
        deleted_at
    from iinsight.deletions
),

deleted_billings as (
    select
        guid,
        max(deleted_at) as deleted_at
    from deletions
    where entity = 'billings'
        and deleted_at is not null
    group by guid
),

final as (
    select
        billings.id as billing_id,
        billings.case_id,
        case when billings.invoice <> '0' then billings.invoice end as invoice_id,
        billings.description,
        billings.charge_code,
        billings.estimate_link,
        billings.employee as employee_json,
        billings.team as team_json,
        billings.notes,
        billings.start_time,
        billings.quantity,
        billings.unit_cost,
        billings.unit_charge,
        billings.tax_amount,
        billings.tax_rate,
        billings.total_charge,
        cast(billings.quantity * billings.unit_charge as decimal(18, 2)) as work_value,
        coalesce(billings.time_based, false) as is_time_based,
        billings.invoice <> '0' as is_billed,
        deleted_billings.guid is not null as is_deleted,
        cast(billings.reference_date at time zone 'UTC' as date) as work_date,
        billings.reference_time as work_started_at,
        billings.time_inserted as inserted_at,
        deleted_billings.deleted_at
    from billings
    left join deleted_billings
        on billings.id = deleted_billings.guid
)

select * from final

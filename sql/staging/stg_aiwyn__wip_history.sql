-- Every version of the Aiwyn WIP entries the source loaded, one row per (id, updated_at): the raw
-- `aiwyn.wip_history` (SCD2 source) with exactly the columns and renames of stg_aiwyn__wip.
-- The versions and their validity ranges are built in facts.int_aiwyn__wip_versions.

with

wip as (
    select
        id,
        client_id,
        client_name,
        job_id,
        job_name,
        staff_id,
        staff_name,
        type,
        logged_date,
        hours,
        rate,
        value,
        billed_amount,
        write_off_amount,
        outstanding_amount,
        approved,
        notes,
        created_at,
        updated_at
    from aiwyn.wip_history
),

final as (
    select
        id as wip_entry_id,
        client_id,
        client_name,
        job_id,
        job_name,
        staff_id,
        staff_name,
        upper(type) as wip_type,
        logged_date as logged_at,
        cast(logged_date at time zone 'UTC' as date) as logged_date,
        hours,
        rate,
        value as wip_value,
        billed_amount,
        write_off_amount,
        outstanding_amount as vendor_outstanding_amount,
        approved as is_approved,
        notes,
        created_at,
        updated_at
    from wip
)

select * from final

-- Every version of the Aiwyn WIP entries the source loaded, one row per (id, updated_at): the raw
-- `aiwyn.wip_history` (SCD2 source) with exactly the columns and renames of stg_aiwyn__wip.
-- `is_deleted` / `deleted_at` are the record's deletion state today (aiwyn.deletions keeps no history).
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

deletions as (
    select
        entity,
        guid,
        deleted_at
    from aiwyn.deletions
),

deleted_wip as (
    select
        guid,
        max(deleted_at) as deleted_at
    from deletions
    where entity = 'wip'
        and deleted_at is not null
    group by guid
),

final as (
    select
        wip.id as wip_entry_id,
        wip.client_id,
        wip.client_name,
        wip.job_id,
        wip.job_name,
        wip.staff_id,
        wip.staff_name,
        upper(wip.type) as wip_type,
        wip.logged_date as logged_at,
        cast(wip.logged_date at time zone 'UTC' as date) as logged_date,
        wip.hours,
        wip.rate,
        wip.value as wip_value,
        wip.billed_amount,
        wip.write_off_amount,
        wip.outstanding_amount as vendor_outstanding_amount,
        wip.approved as is_approved,
        wip.notes,
        wip.created_at,
        wip.updated_at,
        deleted_wip.guid is not null as is_deleted,
        deleted_wip.deleted_at
    from wip
    left join deleted_wip
        on cast(wip.id as varchar) = deleted_wip.guid
)

select * from final

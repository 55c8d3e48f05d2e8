-- Aiwyn WIP entries (time, expense, fixed fee, disbursement), one row per entry.
-- also built over aiwyn.wip_history as stg_aiwyn__wip_history: every version the source loaded, one row per
-- (wip_entry_id, updated_at), with exactly these columns (pipelines.models.history_model); its `is_deleted`
-- / `deleted_at` are the deletion state today (deletions keep no history).
-- versions in facts.int_aiwyn__wip_versions by wip_entry_id
-- Timestamps stay UTC instants (`*_at`); `logged_date` is the UTC calendar date of `logged_at`.
-- The only join: `is_deleted` / `deleted_at` from the soft deletes in `aiwyn.deletions` (entity 'wip', the id
-- as text; see stg_aiwyn__invoices).

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
    from aiwyn.wip
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

-- Aiwyn WIP entries (time, expense, fixed fee, disbursement), one row per entry.
-- Timestamps stay UTC instants (`*_at`); `logged_date` is the UTC calendar date of `logged_at`.

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

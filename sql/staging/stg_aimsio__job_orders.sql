-- Aimsio job orders, one row per job. NRBs point at a job by `job_number`.
-- Joined only to the soft deletes in `aimsio.deletions` (`is_deleted` / `deleted_at`).

with

job_orders as (
    select
        job_guid,
        job_id,
        job_number,
        job_name,
        job_description,
        job_status,
        job_type_uname,
        job_client_code,
        job_client_guid,
        job_client_name,
        job_price_book_name,
        job_start_date,
        job_end_date,
        job_created_at,
        job_updated_at,
        job_wbs_schedule
    from aimsio.job_orders
),

deletions as (
    select
        entity,
        guid,
        deleted_at
    from aimsio.deletions
),

deleted_jobs as (
    select
        guid as job_guid,
        max(deleted_at) as deleted_at
    from deletions
    where entity = 'job_orders'
        and deleted_at is not null
    group by guid
),

final as (
    select
        job_orders.job_guid,
        job_orders.job_id,
        job_orders.job_number,
        job_orders.job_name,
        job_orders.job_description,
        job_orders.job_status,
        job_orders.job_type_uname,
        job_orders.job_client_code as client_code,
        job_orders.job_client_guid as client_guid,
        job_orders.job_client_name as client_name,
        job_orders.job_price_book_name as price_book_name,
        job_orders.job_start_date as starts_at,
        cast(job_orders.job_start_date at time zone 'UTC' as date) as start_date,
        job_orders.job_end_date as ends_at,
        cast(job_orders.job_end_date at time zone 'UTC' as date) as end_date,
        job_orders.job_created_at as created_at,
        job_orders.job_updated_at as updated_at,
        job_orders.job_wbs_schedule as wbs_schedule_json,
        deleted_jobs.job_guid is not null as is_deleted,
        deleted_jobs.deleted_at
    from job_orders
    left join deleted_jobs
        on job_orders.job_guid = deleted_jobs.job_guid
)

select * from final

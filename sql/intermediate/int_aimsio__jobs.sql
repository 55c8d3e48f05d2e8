-- Aimsio jobs by job number (NRBs point at a job by `job_number`), one row per job number: a live job
-- order before a deleted one, then the most recently updated. Job and client names are today's
-- (job orders keep no history).

with

stg_aimsio__job_orders as (
    select * from staging.stg_aimsio__job_orders
),

ranked_jobs as (
    select
        job_number,
        job_name,
        client_name,
        row_number() over (
            partition by job_number
            order by is_deleted, updated_at desc, job_guid
        ) as job_rank
    from stg_aimsio__job_orders
    where job_number is not null
),

final as (
    select
        job_number,
        job_name,
        client_name
    from ranked_jobs
    where job_rank = 1
)

select * from final

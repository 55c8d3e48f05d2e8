-- Aimsio NRBs that are work in progress: top-level (children are the breakdown of an AP-invoice
-- parent whose total already covers them), billable, not internal, not yet billed, not deleted;
-- with the job and client of their job order. One row per NRB, valued at `total_after_markup`.

with

stg_aimsio__nrbs as (
    select * from staging.stg_aimsio__nrbs
),

stg_aimsio__nrb_children as (
    select * from staging.stg_aimsio__nrb_children
),

stg_aimsio__job_orders as (
    select * from staging.stg_aimsio__job_orders
),

child_guids as (
    select distinct nrb_guid
    from stg_aimsio__nrb_children
),

-- one job per job number: a live job before a deleted one, then the most recently updated
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

jobs as (
    select
        job_number,
        job_name,
        client_name
    from ranked_jobs
    where job_rank = 1
),

eligible_nrbs as (
    select nrbs.*
    from stg_aimsio__nrbs as nrbs
    left join child_guids
        on nrbs.nrb_guid = child_guids.nrb_guid
    where nrbs.parent_guid is null
        and child_guids.nrb_guid is null
        and nrbs.is_billable
        and not nrbs.is_internal
        and not nrbs.is_billed
        and not nrbs.is_deleted
),

final as (
    select
        eligible_nrbs.nrb_guid,
        jobs.client_name,
        eligible_nrbs.job_number,
        coalesce(jobs.job_name, eligible_nrbs.job_number) as job_name,
        eligible_nrbs.nrb_name,
        eligible_nrbs.nrb_type_name,
        eligible_nrbs.created_at,
        eligible_nrbs.created_date,
        eligible_nrbs.total_after_markup
    from eligible_nrbs
    left join jobs
        on eligible_nrbs.job_number = jobs.job_number
)

select * from final

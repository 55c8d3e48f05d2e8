-- Aimsio NRBs that are work in progress today: top-level (children are the breakdown of an AP-invoice
-- parent whose total already covers them), billable, not internal, not deleted; billed or not
-- (`is_billed`: billed into an invoice, `billed_in_guid`). With the job and client of their job order; an
-- NRB whose job order is unknown (the optional JobOrder endpoint unavailable) shows its job number as both.
-- One row per NRB, valued at `total_after_markup`.

with

stg_aimsio__nrbs as (
    select * from staging.stg_aimsio__nrbs
),

stg_aimsio__nrb_children as (
    select * from staging.stg_aimsio__nrb_children
),

int_aimsio__jobs as (
    select * from facts.int_aimsio__jobs
),

child_guids as (
    select distinct nrb_guid
    from stg_aimsio__nrb_children
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
        and not nrbs.is_deleted
),

final as (
    select
        eligible_nrbs.nrb_guid,
        coalesce(int_aimsio__jobs.client_name, eligible_nrbs.job_number) as client_name,
        eligible_nrbs.job_number,
        coalesce(int_aimsio__jobs.job_name, eligible_nrbs.job_number) as job_name,
        eligible_nrbs.nrb_name,
        eligible_nrbs.nrb_type_name,
        eligible_nrbs.created_at,
        eligible_nrbs.created_date,
        eligible_nrbs.total_after_markup,
        eligible_nrbs.is_billed
    from eligible_nrbs
    left join int_aimsio__jobs
        on eligible_nrbs.job_number = int_aimsio__jobs.job_number
)

select * from final

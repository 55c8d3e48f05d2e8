-- Work in progress of every source today, one row per (source_system, wip_id):
--   Aiwyn WIP entries (all but the soft-deleted ones, `aiwyn.deletions`; outstanding_amount = wip_value -
--   billed_amount - write_off_amount, which may be 0 for fully billed entries), and
--   Aimsio NRBs that are WIP (int_aimsio__wip_nrbs: top-level, billable, not internal, not deleted),
--   valued at their total after markup, wip_type 'NRB'; an NRB billed into an invoice is billed at its
--   value (billed_amount = wip_value, nothing outstanding); nothing is written off; and
--   iinsight billings (int_iinsight__billings: not deleted), valued at quantity x unit_charge, billed at their
--   value once on an invoice dated on or before today (UTC); nothing is written off.
-- logged_date is the UTC calendar date of Aiwyn's loggedDate / the NRB's nrbCreatedAt / the billing's work
-- date; money DECIMAL(18,2).

with

stg_aiwyn__wip as (
    select * from staging.stg_aiwyn__wip
),

int_aimsio__wip_nrbs as (
    select * from facts.int_aimsio__wip_nrbs
),

int_iinsight__billings as (
    select * from facts.int_iinsight__billings
),

today as (
    select cast(current_timestamp at time zone 'UTC' as date) as as_of_date
),

aiwyn_wip as (
    select
        'aiwyn' as source_system,
        cast(wip_entry_id as varchar) as wip_id,
        client_name,
        job_name as job,
        wip_type,
        logged_date,
        cast(wip_value as decimal(18, 2)) as wip_value,
        cast(coalesce(billed_amount, 0) as decimal(18, 2)) as billed_amount,
        cast(coalesce(write_off_amount, 0) as decimal(18, 2)) as write_off_amount,
        cast(
            wip_value - coalesce(billed_amount, 0) - coalesce(write_off_amount, 0) as decimal(18, 2)
        ) as outstanding_amount
    from stg_aiwyn__wip
    where not is_deleted
),

aimsio_wip as (
    select
        'aimsio' as source_system,
        nrb_guid as wip_id,
        client_name,
        job_name as job,
        'NRB' as wip_type,
        created_date as logged_date,
        cast(total_after_markup as decimal(18, 2)) as wip_value,
        cast(case when is_billed then total_after_markup else 0 end as decimal(18, 2)) as billed_amount,
        cast(0 as decimal(18, 2)) as write_off_amount,
        cast(case when is_billed then 0 else total_after_markup end as decimal(18, 2)) as outstanding_amount
    from int_aimsio__wip_nrbs
),

iinsight_billed as (
    select
        int_iinsight__billings.*,
        coalesce(int_iinsight__billings.billed_on <= today.as_of_date, false) as is_billed
    from int_iinsight__billings
    cross join today
    where not int_iinsight__billings.is_deleted
),

iinsight_wip as (
    select
        'iinsight' as source_system,
        billing_id as wip_id,
        client_name,
        job,
        wip_type,
        logged_date,
        cast(wip_value as decimal(18, 2)) as wip_value,
        cast(case when is_billed then wip_value else 0 end as decimal(18, 2)) as billed_amount,
        cast(0 as decimal(18, 2)) as write_off_amount,
        cast(case when is_billed then 0 else wip_value end as decimal(18, 2)) as outstanding_amount
    from iinsight_billed
),

final as (
    select * from aiwyn_wip
    union all
    select * from aimsio_wip
    union all
    select * from iinsight_wip
)

select * from final

-- materialized: table
-- Every version of every piece of WIP (SCD2), one row per (source_system, wip_id, valid_from): the
-- columns of fct_wip as the entry was in that version, plus
--   deleted_at: when the entry / NRB was found deleted (`aiwyn.deletions` / `aimsio.deletions`; the sources
--     give no deletion time: this is when our sync saw it vanish, i.e. the load time; null when not deleted
--     or back again; the same on every version). As of day D it is left out when deleted_at < D + 1 day;
--   valid_from / valid_to / version_number / is_current as in fct_invoice_versions (change timestamps:
--     Aiwyn `updatedAt`, Aimsio `nrbUpdatedAt`).
-- Aiwyn: every version of every entry. Aimsio: the versions in which the NRB is WIP (top-level, billable,
-- not internal; billed ones too, billed at their value); validity ranges are computed over all of the
-- NRB's versions first, so an NRB that was not WIP at a date (e.g. not yet billable) has no row valid
-- then. Whether an NRB is a child (nrb_children), and its job and client, are today's (the job number when
-- its job order is unknown).
-- iinsight billings have no change timestamp; their versions follow from the date of the invoice they are on
-- (int_iinsight__billings.billed_on), so they are exact for any past date from the first sync: version 1
-- unbilled (valid_from: when inserted, before the invoice date; valid_to: the invoice date at 00:00 UTC, null
-- while unbilled), version 2 billed at its value from the invoice date on. A billing whose invoice is not
-- loaded has only its billed version.

with

int_aiwyn__wip_versions as (
    select * from facts.int_aiwyn__wip_versions
),

int_aimsio__nrb_versions as (
    select * from facts.int_aimsio__nrb_versions
),

stg_aimsio__nrb_children as (
    select * from staging.stg_aimsio__nrb_children
),

int_aimsio__jobs as (
    select * from facts.int_aimsio__jobs
),

int_iinsight__billings as (
    select * from facts.int_iinsight__billings
),

child_guids as (
    select distinct nrb_guid
    from stg_aimsio__nrb_children
),

aiwyn_versions as (
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
        ) as outstanding_amount,
        deleted_at,
        valid_from,
        valid_to,
        version_number,
        is_current
    from int_aiwyn__wip_versions
),

aimsio_versions as (
    select
        'aimsio' as source_system,
        nrbs.nrb_guid as wip_id,
        coalesce(int_aimsio__jobs.client_name, nrbs.job_number) as client_name,
        coalesce(int_aimsio__jobs.job_name, nrbs.job_number) as job,
        'NRB' as wip_type,
        nrbs.created_date as logged_date,
        cast(nrbs.total_after_markup as decimal(18, 2)) as wip_value,
        cast(case when nrbs.is_billed then nrbs.total_after_markup else 0 end as decimal(18, 2)) as billed_amount,
        cast(0 as decimal(18, 2)) as write_off_amount,
        cast(case when nrbs.is_billed then 0 else nrbs.total_after_markup end as decimal(18, 2))
            as outstanding_amount,
        nrbs.deleted_at,
        nrbs.valid_from,
        nrbs.valid_to,
        nrbs.version_number,
        nrbs.is_current
    from int_aimsio__nrb_versions as nrbs
    left join child_guids
        on nrbs.nrb_guid = child_guids.nrb_guid
    left join int_aimsio__jobs
        on nrbs.job_number = int_aimsio__jobs.job_number
    where nrbs.parent_guid is null
        and child_guids.nrb_guid is null
        and nrbs.is_billable
        and not nrbs.is_internal
),

iinsight_billings as (
    select
        int_iinsight__billings.*,
        case
            when billed_on > cast('0001-01-01' as date) then cast(billed_on as timestamp) at time zone 'UTC'
        end as billed_at
    from int_iinsight__billings
),

-- version 1 unbilled (unless its invoice is unknown), until the invoice date; then billed
iinsight_billing_versions as (
    select
        billing_id,
        false as is_billed,
        least(
            coalesce(inserted_at, cast(logged_date as timestamp) at time zone 'UTC'),
            billed_at - interval '1 second'
        ) as valid_from,
        billed_at as valid_to,
        1 as version_number
    from iinsight_billings
    where billed_on is null
        or billed_at is not null
    union all
    select
        billing_id,
        true as is_billed,
        coalesce(billed_at, cast('0001-01-01 00:00:00+00' as timestamp with time zone)) as valid_from,
        cast(null as timestamp with time zone) as valid_to,
        case when billed_at is null then 1 else 2 end as version_number
    from iinsight_billings
    where billed_on is not null
),

iinsight_versions as (
    select
        'iinsight' as source_system,
        billings.billing_id as wip_id,
        billings.client_name,
        billings.job,
        billings.wip_type,
        billings.logged_date,
        cast(billings.wip_value as decimal(18, 2)) as wip_value,
        cast(case when versions.is_billed then billings.wip_value else 0 end as decimal(18, 2)) as billed_amount,
        cast(0 as decimal(18, 2)) as write_off_amount,
        cast(case when versions.is_billed then 0 else billings.wip_value end as decimal(18, 2)) as outstanding_amount,
        billings.deleted_at,
        versions.valid_from,
        versions.valid_to,
        versions.version_number,
        versions.valid_to is null as is_current
    from iinsight_billing_versions as versions
    inner join iinsight_billings as billings
        on versions.billing_id = billings.billing_id
),

final as (
    select * from aiwyn_versions
    union all
    select * from aimsio_versions
    union all
    select * from iinsight_versions
)

select * from final

-- Whether iinsight's optional entities could be read in the latest sync, one row: `has_payments` (the open
-- amounts of iinsight invoices come from their payments, else from the vendor's `total_amount_payable`) and
-- `has_billings` (iinsight work counts in WIP, else it is left out). Never synced counts as unavailable.

with

stg_iinsight__entity_status as (
    select * from staging.stg_iinsight__entity_status
),

final as (
    select
        coalesce(bool_or(case when entity = 'payments' then is_available end), false) as has_payments,
        coalesce(bool_or(case when entity = 'billings' then is_available end), false) as has_billings
    from stg_iinsight__entity_status
)

select * from final

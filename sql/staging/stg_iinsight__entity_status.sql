-- Whether each optional iinsight entity (payments, billings) could be read in the latest sync, one row per
-- entity (sources._vendor.ENTITY_STATUS): `is_available`; `reason` (e.g. `HTTP 403 at /api1/payments`) when not.
-- No row: the entity was never synced (a warehouse from before it existed), which the models treat as
-- unavailable.

with

entity_status as (
    select
        entity,
        available,
        reason,
        checked_at
    from iinsight.entity_status
),

final as (
    select
        entity,
        reason,
        available as is_available,
        checked_at
    from entity_status
)

select * from final

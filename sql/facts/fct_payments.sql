-- Payments applied to invoices, one row per (source_system, payment_id): Aiwyn and iinsight.
--   is_confirmed: the payment reduces its invoice's open amount (Aiwyn: CONFIRMED; iinsight: every payment,
--     active or voided, reduced it until its void);
--   payment_amount: what it takes off the invoice (iinsight: abs(amount), whatever sign the API shows);
--   is_deleted / deleted_at: the payment vanished from the source (`aiwyn.deletions`);
--   is_voided / voided_at: an iinsight payment voided, and when: the earliest `last_update_utc` at which a sync
--     saw it VOIDED (its history; a payment first seen voided was voided at its `last_update_utc`);
--   counts_until: when the payment stopped reducing its invoice, the earlier of deleted_at and voided_at (null
--     while it still does). As of day D a confirmed payment counts when payment_date <= D and (counts_until is
--     null or counts_until >= D + 1 day, 00:00 UTC): a voided payment counts from its date until its void.
-- `invoice_id` is text, matching fct_invoices.invoice_id; payment_date is the UTC calendar date.

with

stg_aiwyn__payments as (
    select * from staging.stg_aiwyn__payments
),

stg_iinsight__payments as (
    select * from staging.stg_iinsight__payments
),

stg_iinsight__payments_history as (
    select * from staging.stg_iinsight__payments_history
),

iinsight_payment_versions as (
    select
        payment_id,
        payment_status,
        updated_at
    from stg_iinsight__payments_history
    union all
    select
        payment_id,
        payment_status,
        updated_at
    from stg_iinsight__payments
),

iinsight_voids as (
    select
        payment_id,
        min(updated_at) as voided_at
    from iinsight_payment_versions
    where payment_status = 'VOIDED'
    group by payment_id
),

aiwyn_payments as (
    select
        'aiwyn' as source_system,
        cast(payment_id as varchar) as payment_id,
        cast(invoice_id as varchar) as invoice_id,
        payment_date,
        cast(payment_amount as decimal(18, 2)) as payment_amount,
        currency,
        payment_method,
        payment_status,
        is_confirmed,
        is_deleted,
        deleted_at,
        false as is_voided,
        cast(null as timestamp with time zone) as voided_at,
        deleted_at as counts_until
    from stg_aiwyn__payments
),

iinsight_payments as (
    select
        'iinsight' as source_system,
        payments.payment_id,
        payments.invoice_id,
        payments.payment_date,
        payments.payment_amount,
        cast(null as varchar) as currency,
        payments.payment_method,
        payments.payment_status,
        true as is_confirmed,
        false as is_deleted,
        cast(null as timestamp with time zone) as deleted_at,
        not payments.is_active as is_voided,
        case when not payments.is_active then iinsight_voids.voided_at end as voided_at,
        case when not payments.is_active then iinsight_voids.voided_at end as counts_until
    from stg_iinsight__payments as payments
    left join iinsight_voids
        on payments.payment_id = iinsight_voids.payment_id
),

final as (
    select * from aiwyn_payments
    union all
    select * from iinsight_payments
)

select * from final

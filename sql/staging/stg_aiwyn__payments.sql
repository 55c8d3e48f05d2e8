-- Aiwyn payments, one row per payment. Only CONFIRMED payments reduce what an invoice owes
-- (`is_confirmed`); FAILED and other statuses do not.
-- The only join: `is_deleted` / `deleted_at` from the soft deletes in `aiwyn.deletions` (entity 'payments', the
-- id as text; see stg_aiwyn__invoices). A deleted payment reduces nothing once deleted.

with

payments as (
    select
        id,
        invoice_id,
        client_id,
        amount,
        currency,
        payment_method,
        status,
        payment_date,
        created_at,
        updated_at
    from aiwyn.payments
),

deletions as (
    select
        entity,
        guid,
        deleted_at
    from aiwyn.deletions
),

deleted_payments as (
    select
        guid,
        max(deleted_at) as deleted_at
    from deletions
    where entity = 'payments'
        and deleted_at is not null
    group by guid
),

final as (
    select
        payments.id as payment_id,
        payments.invoice_id,
        payments.client_id,
        payments.amount as payment_amount,
        payments.currency,
        payments.payment_method,
        upper(payments.status) as payment_status,
        coalesce(upper(payments.status) = 'CONFIRMED', false) as is_confirmed,
        payments.payment_date as paid_at,
        cast(payments.payment_date at time zone 'UTC' as date) as payment_date,
        payments.created_at,
        payments.updated_at,
        deleted_payments.guid is not null as is_deleted,
        deleted_payments.deleted_at
    from payments
    left join deleted_payments
        on cast(payments.id as varchar) = deleted_payments.guid
)

select * from final

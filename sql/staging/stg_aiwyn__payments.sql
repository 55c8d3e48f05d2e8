-- Aiwyn payments, one row per payment. Only CONFIRMED payments reduce what an invoice owes
-- (`is_confirmed`); FAILED and other statuses do not.

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

final as (
    select
        id as payment_id,
        invoice_id,
        client_id,
        amount as payment_amount,
        currency,
        payment_method,
        upper(status) as payment_status,
        coalesce(upper(status) = 'CONFIRMED', false) as is_confirmed,
        payment_date as paid_at,
        cast(payment_date at time zone 'UTC' as date) as payment_date,
        created_at,
        updated_at
    from payments
)

select * from final

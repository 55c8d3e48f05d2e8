-- iinsight payments, one row per payment (iinsight.md §5).
-- also built over iinsight.payments_history as stg_iinsight__payments_history: every version the source
-- loaded, one row per (payment_id, updated_at), with exactly these columns (pipelines.models.history_model).
-- The API's rows carry no status: `payment_status` (ACTIVE | VOIDED) is the status the request that listed the
-- payment asked for.
--   vendor_amount: `amount` as the API shows it (v2 negative, v1 either sign);
--   payment_amount: what the payment takes off its invoice, abs(amount) (CONTRACT.md "iinsight payments");
--   payment_date: `transaction_date` (v1 day-first, v2 ISO), a calendar date;
--   is_active: ACTIVE; a VOIDED payment stops counting from its `last_update_utc` (updated_at) on.

with

payments as (
    select
        payment_id,
        payment_number,
        transaction_date,
        amount,
        paid_by,
        reference_number,
        card_type,
        bank,
        branch,
        invoice_id,
        invoice_number,
        bill_to_id,
        type,
        notes,
        last_update,
        last_update_utc,
        status
    from iinsight.payments
),

final as (
    select
        payment_id,
        invoice_id,
        bill_to_id,
        payment_number,
        invoice_number,
        paid_by,
        reference_number,
        type as payment_method,
        card_type,
        bank,
        branch,
        notes,
        upper(status) as payment_status,
        cast(amount as decimal(18, 2)) as vendor_amount,
        cast(abs(amount) as decimal(18, 2)) as payment_amount,
        upper(status) = 'ACTIVE' as is_active,
        transaction_date as payment_date,
        last_update as last_update_local_text,
        last_update_utc as updated_at
    from payments
)

select * from final

-- The 10 clients owing the most more than 30 days past due as of a date, one row per client (across
-- sources), largest overdue amount first (ties by client name).
--   From rpt_ar_aging (state at the end of as_of_date; today in the view, any date with report()).
--   overdue_amount: open_amount of the client's invoices with days_past_due > 30 (with the invoice-date
--     aging basis, invoices dated more than 30 days before); overdue_invoice_count: how many;
--   oldest_days_past_due: the largest days_past_due of those; open_amount: all the client's open invoices.
--   overdue_rank: 1..10. Only clients with overdue_amount > 0.

with

rpt_ar_aging as (
    select * from reports.rpt_ar_aging
),

per_client as (
    select
        client_name,
        sum(case when days_past_due > 30 then open_amount else 0 end) as overdue_amount,
        sum(case when days_past_due > 30 then 1 else 0 end) as overdue_invoice_count,
        max(case when days_past_due > 30 then days_past_due end) as oldest_days_past_due,
        sum(open_amount) as open_amount
    from rpt_ar_aging
    group by client_name
),

ranked as (
    select
        row_number() over (order by overdue_amount desc, client_name) as overdue_rank,
        client_name,
        overdue_amount,
        overdue_invoice_count,
        oldest_days_past_due,
        open_amount
    from per_client
    where overdue_amount > 0
),

final as (
    select
        cast(overdue_rank as integer) as overdue_rank,
        client_name,
        cast(overdue_amount as decimal(18, 2)) as overdue_amount,
        cast(overdue_invoice_count as integer) as overdue_invoice_count,
        cast(oldest_days_past_due as integer) as oldest_days_past_due,
        cast(open_amount as decimal(18, 2)) as open_amount
    from ranked
    where overdue_rank <= 10
)

select * from final
order by overdue_rank

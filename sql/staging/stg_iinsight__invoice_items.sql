-- iinsight invoice line items, one row per item.

with

invoice_items as (
    select
        invoice_id,
        item_no,
        cost_id,
        charge_code,
        employee_id,
        employee_info,
        general_ledger_code,
        general_ledger_description,
        general_ledger_id,
        professional,
        quantity,
        rate,
        revenue_centre,
        service_contract,
        service_date,
        service,
        description,
        tax_amount,
        total
    from iinsight.invoice_items
),

final as (
    select
        invoice_id,
        item_no as item_number,
        cost_id,
        charge_code,
        employee_id,
        employee_info as employee_info_json,
        general_ledger_code,
        general_ledger_description,
        general_ledger_id,
        professional,
        quantity,
        rate,
        revenue_centre,
        service_contract,
        service_date,
        service as service_name,
        description,
        tax_amount,
        total as line_amount
    from invoice_items
)

select * from final

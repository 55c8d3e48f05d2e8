"""The store's views (what the APIs show: joined names, computed fields, live rows only) and the
queries of `Firm.truth()`, one per `Truth` table."""

from __future__ import annotations

from simulators._gen_aimsio import NRB_SCHEMA

_NRB_COLS = ", ".join(n for n in NRB_SCHEMA.names if n not in ("deleted", "seq"))
VIEWS = """
CREATE VIEW iinsight_invoices_v AS
SELECT i.invoice_id, i.company_id, c.name AS "to", c.attention AS to_attention, c.address AS to_address,
       c.accounts_email AS to_email, c.abn, i.invoice_number, i.case_number, i.terms, i.date_of_invoice,
       i.due_date, i.notes, i.total_amount_payable, i.client_first_name || ' ' || i.client_last_name AS client,
       i.claim_no, i.provider_number, i.assigned_to, i.start_date, i.end_date, c.contact_id, i.sub_total,
       i.total_tax, i.total, i.last_update_utc, i.status, i.client_first_name, i.client_last_name
FROM iinsight_invoices i JOIN clients c USING (company_id);
CREATE VIEW iinsight_items_v AS
SELECT it.cost_id, it.invoice_id, it.charge_code, it.employee_id, s.first_name AS employee_first_name,
       s.last_name AS employee_last_name, s.first_name || ' ' || s.last_name AS employee_name,
       s.title AS employee_title, it.general_ledger_code, it.general_ledger_description, it.general_ledger_id,
       it.professional, it.quantity, it.rate, it.revenue_centre, it.service_contract, it.service_date,
       it.service, it.description, it.tax_amount, it.total
FROM iinsight_items it JOIN staff s ON s.staff_id = it.employee_id;
CREATE VIEW iinsight_payments_v AS
SELECT p.payment_id, p.payment_number, p.transaction_date, p.amount,
       CASE WHEN p.v1_negative THEN -p.amount ELSE p.amount END AS v1_amount, p.paid_by, p.reference_number,
       p.card_type, p.bank, p.branch, p.invoice_id, i.invoice_number, p.bill_to_id, p.type, p.notes, p.status,
       p.last_update_utc
FROM iinsight_payments p JOIN iinsight_invoices i USING (invoice_id);
CREATE VIEW iinsight_billings_v AS
SELECT b.id, b.case_id, b.time_based, b.description, b.estimate_link, b.employee_id,
       s.first_name AS employee_first_name, s.last_name AS employee_last_name,
       s.first_name || ' ' || s.last_name AS employee_name, s.title AS employee_title,
       3670 + b.employee_id % 4 AS team_id,
       ['Huascar Team', 'Harbour Team', 'Ridge Team', 'Valley Team'][b.employee_id % 4 + 1] AS team_description,
       b.reference_date, b.start_time, b.reference_time, b.quantity, b.unit_cost, b.unit_charge, b.tax_amount,
       b.tax_rate, b.total_charge, b.charge_code, b.invoice_id AS invoice, b.notes, b.time_inserted
FROM iinsight_billings b JOIN staff s ON s.staff_id = b.employee_id WHERE NOT b.deleted;
CREATE VIEW aimsio_nrbs_live AS
SELECT n.* FROM aimsio_nrbs n LEFT JOIN aimsio_nrbs p ON p.nrb_guid = n.nrb_parent_guid
WHERE NOT n.deleted AND NOT coalesce(p.deleted, false);
"""
TRUTH_SQL = {
    "aiwyn_wip": "SELECT * FROM aiwyn_wip ORDER BY id",
    "aiwyn_invoices": "SELECT * FROM aiwyn_invoices ORDER BY id",
    "aiwyn_invoice_line_items": "SELECT * FROM aiwyn_line_items ORDER BY id",
    "aiwyn_payments": "SELECT * FROM aiwyn_payments ORDER BY id",
    "aimsio_nrbs": f"SELECT {_NRB_COLS} FROM aimsio_nrbs_live WHERE nrb_parent_guid IS NULL ORDER BY seq",
    "aimsio_nrb_children": f"SELECT {_NRB_COLS} FROM aimsio_nrbs_live WHERE nrb_parent_guid IS NOT NULL "
                           "ORDER BY seq",
    "aimsio_job_orders": "SELECT * FROM aimsio_jobs ORDER BY job_id",
    "iinsight_invoices": "SELECT * FROM iinsight_invoices_v ORDER BY invoice_id",
    "iinsight_invoice_items": "SELECT * FROM iinsight_items_v ORDER BY cost_id",
    "iinsight_payments": "SELECT * FROM iinsight_payments_v ORDER BY payment_id",
    "iinsight_billings": "SELECT * FROM iinsight_billings_v ORDER BY id",
}

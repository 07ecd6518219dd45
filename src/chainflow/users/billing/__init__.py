"""Billing of the users service: plans in rupiah, Midtrans checkout and notifications,
subscriptions, invoices."""

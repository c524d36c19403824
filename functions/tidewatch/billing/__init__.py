"""Billing: plans and their entitlements, Stripe subscription state, webhook processing.

`tidewatch.billing.plans` is pure and cheap to import (every function may use it); the Stripe
library is imported only inside `tidewatch.billing.stripe_gateway`, on first use.
"""

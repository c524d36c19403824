-- Billing as a state machine over Stripe's objects: every subscription of a linked customer as
-- last read from Stripe's API (the reads of one user are serialised by the `subscriptions` row
-- lock, so the row written last is the newest read), the payment facts Stripe stated (by the
-- event's own time, so the grace start does not depend on arrival order), and the customers
-- deleted in Stripe (never linked again).
CREATE TABLE stripe_subscriptions (
    subscription_id     text PRIMARY KEY,
    user_id             bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    customer_id         text NOT NULL,
    status              text NOT NULL,
    price_ids           text[] NOT NULL DEFAULT '{}',
    entitled            boolean NOT NULL,      -- an item's price is a configured Pro price
    created_at          timestamptz NOT NULL,  -- Stripe's subscription.created
    current_period_end  timestamptz,
    cancel_at           timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    grace_until         timestamptz,           -- while delinquent: first failure after the last good standing + grace
    grace_notified      boolean NOT NULL DEFAULT false,
    read_at             timestamptz NOT NULL
);
CREATE INDEX stripe_subscriptions_user_idx ON stripe_subscriptions (user_id);
CREATE INDEX stripe_subscriptions_customer_idx ON stripe_subscriptions (customer_id);

-- One fact per event: the subscription was in good standing (invoice paid, active/trialing
-- snapshot) or delinquent (invoice payment failed, past_due/unpaid snapshot) at `stated_at`.
CREATE TABLE stripe_payment_facts (
    event_id            text PRIMARY KEY,
    subscription_id     text NOT NULL,
    in_good_standing    boolean NOT NULL,
    stated_at           timestamptz NOT NULL
);
CREATE INDEX stripe_payment_facts_subscription_idx ON stripe_payment_facts (subscription_id, stated_at);

CREATE TABLE stripe_deleted_customers (
    customer_id         text PRIMARY KEY,
    user_id             bigint REFERENCES users (id) ON DELETE SET NULL,
    deleted_at          timestamptz NOT NULL
);
CREATE INDEX stripe_deleted_customers_user_idx ON stripe_deleted_customers (user_id);

-- The user's summary row shows a `cancel_at` cancellation as an end date.
ALTER TABLE subscriptions ADD COLUMN cancel_at timestamptz;

-- Existing subscriptions carry over as they were last known (entitled, since until now any price
-- granted Pro), so nobody's plan moves at deploy; the next event about a customer re-reads its
-- subscriptions from Stripe and replaces these rows with the exact prices.
INSERT INTO stripe_subscriptions (
    subscription_id, user_id, customer_id, status, entitled, created_at, current_period_end,
    cancel_at_period_end, grace_until, grace_notified, read_at)
SELECT stripe_subscription_id, user_id, stripe_customer_id, status, true,
       COALESCE(subscription_created_at, updated_at), current_period_end,
       cancel_at_period_end, grace_until, grace_until IS NOT NULL, COALESCE(source_updated_at, updated_at)
FROM subscriptions
WHERE stripe_subscription_id IS NOT NULL AND stripe_customer_id IS NOT NULL AND status IS NOT NULL;

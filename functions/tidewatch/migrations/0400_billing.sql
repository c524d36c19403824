-- Billing: what the out-of-order-safe subscription derivation needs beside 0001's columns.
-- `subscription_created_at` decides between two subscriptions of one user (the newer live one
-- wins); `payment_state_at` orders invoice paid/failed facts apart from subscription snapshots.
ALTER TABLE subscriptions
    ADD COLUMN subscription_created_at timestamptz,
    ADD COLUMN payment_state_at timestamptz;

-- Downgrades and upgrades look up a user's rules by enabled state and age.
CREATE INDEX rules_user_created_idx ON rules (user_id, created_at, id);

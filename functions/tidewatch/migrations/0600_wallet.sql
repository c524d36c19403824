-- Wallet: a retried prepare (rules' at-least-once actions, a double-clicked button) returns the
-- same prepared transactions instead of a second set; keyed per user.
ALTER TABLE transactions ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX transactions_idempotency_idx ON transactions (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

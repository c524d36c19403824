-- The grace sweep runs every few minutes and looks only at subscriptions with a grace clock.
CREATE INDEX subscriptions_grace_idx ON subscriptions (grace_until) WHERE grace_until IS NOT NULL;

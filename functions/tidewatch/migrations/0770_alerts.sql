-- Alerts that reach people: verified destinations, an outbox of deliveries (one row per firing and
-- destination, so a redelivered event or a retried function never sends twice), a log of every
-- attempt, quiet hours, Telegram link codes and suppressed email addresses.

CREATE TABLE alert_destinations (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('email', 'telegram', 'discord', 'slack', 'webpush')),
    label           text NOT NULL,
    -- email address, Telegram chat id, webhook URL, or the push subscription's endpoint
    target          text NOT NULL,
    -- push subscription keys (p256dh, auth); empty for the other kinds
    secret          jsonb NOT NULL DEFAULT '{}',
    is_default      boolean NOT NULL DEFAULT true,
    verified_at     timestamptz,
    unsubscribed_at timestamptz,
    -- the provider said the destination is gone (bot blocked, webhook deleted, push subscription expired)
    disabled_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_id, kind, target)
);
CREATE INDEX alert_destinations_user_idx ON alert_destinations (user_id, id);
-- A Telegram chat is linked to one user at a time.
CREATE UNIQUE INDEX alert_destinations_telegram_chat_idx ON alert_destinations (target) WHERE kind = 'telegram';

CREATE TABLE alert_preferences (
    user_id             bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    timezone            text NOT NULL DEFAULT 'UTC',
    quiet_start         time,
    quiet_end           time,
    -- during quiet hours only alerts of at least this severity go out
    quiet_min_severity  text NOT NULL DEFAULT 'critical' CHECK (quiet_min_severity IN ('info', 'warning', 'critical')),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE telegram_link_codes (
    code_hash       text PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    label           text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX telegram_link_codes_user_idx ON telegram_link_codes (user_id);

CREATE TABLE email_suppressions (
    address         text PRIMARY KEY,  -- lower-cased
    reason          text NOT NULL,     -- bounce | complaint
    detail          jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id    bigint REFERENCES rule_executions (id) ON DELETE CASCADE,
    -- a test send has no firing; its key keeps one test per click
    idempotency_key text NOT NULL,
    destination_id  bigint NOT NULL REFERENCES alert_destinations (id) ON DELETE CASCADE,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    rule_id         bigint REFERENCES rules (id) ON DELETE SET NULL,
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    message         jsonb NOT NULL,
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'delivered', 'dead', 'skipped')),
    attempt         integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (idempotency_key, destination_id)
);
CREATE INDEX alert_deliveries_due_idx ON alert_deliveries (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX alert_deliveries_user_idx ON alert_deliveries (user_id, id DESC);

CREATE TABLE alert_delivery_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id     bigint NOT NULL REFERENCES alert_deliveries (id) ON DELETE CASCADE,
    attempt         integer NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('delivered', 'retry', 'failed', 'skipped')),
    response_code   integer,
    response        text,
    latency_ms      double precision,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_delivery_attempts_delivery_idx ON alert_delivery_attempts (delivery_id, id);

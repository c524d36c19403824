-- Initial schema. Amounts are numeric (exact integers in base units, or exact decimals),
-- times are timestamptz, addresses are stored checksummed (EIP-55) as text with a shape check.

CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    address         text NOT NULL UNIQUE CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
    plan            text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_login_at   timestamptz
);

-- Refresh tokens rotate: each use revokes the presented token and issues its successor in the
-- same family; presenting a revoked token revokes the whole family (theft detection).
CREATE TABLE refresh_tokens (
    id              uuid PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id       uuid NOT NULL,
    token_hash      bytea NOT NULL UNIQUE,
    issued_at       timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    replaced_by     uuid
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

CREATE TABLE portfolios (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    chains          integer[] NOT NULL DEFAULT '{1,8453}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX portfolios_user_idx ON portfolios (user_id, id);

CREATE TABLE portfolio_addresses (
    portfolio_id    bigint NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    address         text NOT NULL CHECK (address ~ '^0x[0-9a-fA-F]{40}$'),
    label           text,
    added_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (portfolio_id, address)
);
CREATE INDEX portfolio_addresses_address_idx ON portfolio_addresses (address);

-- The market registry as ingested: one row per (chain, protocol, market key).
CREATE TABLE markets (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain_id        integer NOT NULL,
    protocol        text NOT NULL CHECK (protocol IN ('aave-v3', 'compound-v3', 'eigenlayer')),
    market_key      text NOT NULL,           -- e.g. the reserve/comet/strategy address
    asset_symbol    text NOT NULL,
    asset_address   text NOT NULL,
    asset_decimals  smallint NOT NULL CHECK (asset_decimals BETWEEN 0 AND 36),
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (chain_id, protocol, market_key)
);

-- Time series of market state; one row per market per block (idempotent ingest).
CREATE TABLE market_rates (
    market_id       bigint NOT NULL REFERENCES markets (id) ON DELETE CASCADE,
    block_number    bigint NOT NULL,
    observed_at     timestamptz NOT NULL,
    supply_apy      numeric(20, 12),          -- fraction per year, 0.0345 = 3.45 %
    borrow_apy      numeric(20, 12),
    utilization     numeric(20, 12),
    total_supplied  numeric(78, 0),           -- base units
    total_borrowed  numeric(78, 0),
    price_usd       numeric(38, 18),
    PRIMARY KEY (market_id, block_number)
);
CREATE INDEX market_rates_time_idx ON market_rates (market_id, observed_at DESC);

-- Token prices as seen by ingest (oracle reads), for volatility estimates.
CREATE TABLE asset_prices (
    chain_id        integer NOT NULL,
    asset_symbol    text NOT NULL,
    observed_at     timestamptz NOT NULL,
    price_usd       numeric(38, 18) NOT NULL CHECK (price_usd >= 0),
    block_number    bigint,
    PRIMARY KEY (chain_id, asset_symbol, observed_at)
);

CREATE TABLE position_snapshots (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    portfolio_id    bigint NOT NULL REFERENCES portfolios (id) ON DELETE CASCADE,
    taken_at        timestamptz NOT NULL DEFAULT now(),
    net_worth_usd   numeric(38, 18) NOT NULL,
    min_health_factor numeric(38, 18),
    payload         jsonb NOT NULL
);
CREATE INDEX position_snapshots_portfolio_idx ON position_snapshots (portfolio_id, taken_at DESC);

CREATE TABLE rules (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    portfolio_id    bigint REFERENCES portfolios (id) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    definition      jsonb NOT NULL,           -- trigger, conditions, actions (JSON Schema checked)
    cadence_seconds integer NOT NULL DEFAULT 60 CHECK (cadence_seconds >= 60),
    cooldown_seconds integer NOT NULL DEFAULT 3600 CHECK (cooldown_seconds >= 0),
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    last_evaluated_at timestamptz,
    last_fired_at   timestamptz,
    armed           boolean NOT NULL DEFAULT true,  -- hysteresis: re-arms when the trigger clears
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rules_user_idx ON rules (user_id, id);
CREATE INDEX rules_enabled_idx ON rules (id) WHERE enabled;

-- One row per firing; the unique window key makes at-least-once delivery fire at most once.
CREATE TABLE rule_executions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id         bigint NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    window_key      text NOT NULL,
    evaluated_at    timestamptz NOT NULL DEFAULT now(),
    fired           boolean NOT NULL,
    observed        jsonb NOT NULL DEFAULT '{}',
    actions         jsonb NOT NULL DEFAULT '[]',
    error           text,
    UNIQUE (rule_id, window_key)
);
CREATE INDEX rule_executions_rule_idx ON rule_executions (rule_id, evaluated_at DESC);

CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind            text NOT NULL,
    title           text NOT NULL,
    body            jsonb NOT NULL DEFAULT '{}',
    rule_id         bigint REFERENCES rules (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz
);
CREATE INDEX notifications_user_idx ON notifications (user_id, id DESC);

CREATE TABLE webhook_deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule_id         bigint REFERENCES rules (id) ON DELETE SET NULL,
    url             text NOT NULL,
    payload         jsonb NOT NULL,
    attempt         integer NOT NULL DEFAULT 0,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    response_code   integer,
    last_error      text,
    next_attempt_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE transactions (
    id              uuid PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    portfolio_id    bigint REFERENCES portfolios (id) ON DELETE SET NULL,
    rule_id         bigint REFERENCES rules (id) ON DELETE SET NULL,
    chain_id        integer NOT NULL,
    status          text NOT NULL DEFAULT 'prepared'
                    CHECK (status IN ('prepared', 'submitted', 'confirmed', 'failed', 'replaced')),
    intent          jsonb NOT NULL,           -- what the user asked for
    txs             jsonb NOT NULL,           -- ordered unsigned EIP-1559 transactions
    summary         text NOT NULL,
    tx_hash         text,
    block_number    bigint,
    error           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX transactions_user_idx ON transactions (user_id, created_at DESC);
CREATE INDEX transactions_pending_idx ON transactions (status) WHERE status = 'submitted';
CREATE UNIQUE INDEX transactions_hash_idx ON transactions (chain_id, tx_hash) WHERE tx_hash IS NOT NULL;

CREATE TABLE subscriptions (
    user_id             bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    stripe_customer_id  text UNIQUE,
    stripe_subscription_id text UNIQUE,
    status              text,                 -- Stripe's subscription status
    plan                text NOT NULL DEFAULT 'free' CHECK (plan IN ('free', 'pro')),
    current_period_end  timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    grace_until         timestamptz,
    source_updated_at   timestamptz,          -- the Stripe object's own time: later wins
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Exactly-once webhook processing: the event id is inserted in the same transaction as its effect.
CREATE TABLE processed_webhook_events (
    provider        text NOT NULL,
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    processed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, event_id)
);

CREATE TABLE websocket_connections (
    connection_id   text PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    endpoint        text NOT NULL,            -- management API endpoint for post_to_connection
    topics          text[] NOT NULL DEFAULT '{}',
    connected_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX websocket_connections_user_idx ON websocket_connections (user_id);
CREATE INDEX websocket_connections_topics_idx ON websocket_connections USING gin (topics);

CREATE TABLE model_artifacts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('risk', 'apy')),
    version         text NOT NULL,
    uri             text NOT NULL,
    approved        boolean NOT NULL DEFAULT false,
    card            jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, version)
);

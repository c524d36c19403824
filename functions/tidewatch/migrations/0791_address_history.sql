-- An address's positions summed per chain and hour, read at past blocks by a positions backfill
-- (when the address joins a portfolio), so net-worth and health-factor curves start filled.
CREATE TABLE address_history (
    chain_id          integer NOT NULL,
    address           text NOT NULL CHECK (address = lower(address)),
    bucket_start      timestamptz NOT NULL,
    block_number      bigint NOT NULL,
    observed_at       timestamptz NOT NULL,
    supplied_usd      numeric(38, 18) NOT NULL,
    borrowed_usd      numeric(38, 18) NOT NULL,
    net_worth_usd     numeric(38, 18) NOT NULL,
    min_health_factor numeric(38, 18),
    positions         jsonb NOT NULL,
    PRIMARY KEY (chain_id, address, bucket_start)
);

-- Rules are evaluated in shards. Each rule belongs to one of 1024 buckets, a stable hash of its
-- owner (so one user's rules stay together), and the coordinator packs consecutive buckets into
-- shards of bounded size. `watched_markets` and `watches_prices` let a "market changed" event
-- reach only the buckets whose rules look at the changed markets (or at prices).
CREATE FUNCTION rule_watched_markets(definition jsonb) RETURNS bigint[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT COALESCE(array_agg(DISTINCT (v #>> '{}')::bigint ORDER BY (v #>> '{}')::bigint), '{}')
    FROM (
        SELECT jsonb_path_query(definition, 'lax $.**.market_id') AS v
        UNION ALL
        SELECT jsonb_path_query(definition, 'lax $.**.other_market_id')
    ) ids
    -- A value outside bigint (never valid, but possibly stored by hand) is ignored, not an error.
    WHERE jsonb_typeof(v) = 'number' AND (v #>> '{}')::numeric BETWEEN 1 AND 9223372036854775807
      AND (v #>> '{}')::numeric = trunc((v #>> '{}')::numeric)
$$;

ALTER TABLE rules
    ADD COLUMN shard_bucket smallint GENERATED ALWAYS AS ((hashint8(user_id) & 1023)::smallint) STORED,
    ADD COLUMN watched_markets bigint[] GENERATED ALWAYS AS (rule_watched_markets(definition)) STORED,
    ADD COLUMN watches_prices boolean GENERATED ALWAYS AS (definition @? '$.** ? (@."type" == "price_change")') STORED;

CREATE INDEX rules_shard_idx ON rules (shard_bucket, id) WHERE enabled;
CREATE INDEX rules_watched_markets_idx ON rules USING gin (watched_markets) WHERE enabled;

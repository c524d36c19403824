-- A rule's predicates (its trigger and each extra condition) precomputed as numeric columns, kept
-- by the rule writes (tidewatch.rules.repository: created, updated, enabled, disabled; deleted by
-- the foreign key) and stored in (shard_bucket, rule_id, ord) order, so a shard of the rules tick
-- loads its predicates with one range read and no JSON per row.
--
-- `definition_crc` is a hash of the stored definition, computed by PostgreSQL on every write of
-- the column whatever the writer; a predicate row counts only while its `definition_crc` equals
-- its rule's, so a definition changed past the repository is flattened from its JSON again by the
-- loader instead of being evaluated stale.
ALTER TABLE rules
    ADD COLUMN definition_crc bigint GENERATED ALWAYS AS (hashtextextended(definition::text, 0)) STORED;

-- The rules half of a shard load reads only this index (an index-only scan in shard order).
CREATE INDEX rules_shard_cover_idx ON rules (shard_bucket, id)
    INCLUDE (user_id, portfolio_id, cadence_seconds, cooldown_seconds, armed, last_fired_at, definition_crc)
    WHERE enabled;
DROP INDEX rules_shard_idx;

-- One definition flattened to predicate rows (ord 0 the trigger, then the conditions in order),
-- codes as in tidewatch.rules.ruleset; a type, side or operator it does not know reads as 99.
-- A value that cannot convert (a non-numeric threshold, an id outside bigint, a condition list
-- that is not an array) raises a data exception.
CREATE FUNCTION rule_flat_predicates(definition jsonb)
RETURNS TABLE (
    ord bigint, mode smallint, kind smallint, market_a bigint, market_b bigint, side smallint,
    horizon bigint, chain_id bigint, asset text, window_seconds bigint, op smallint,
    threshold float8, hysteresis float8
)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT p.ord,
       (CASE definition->'conditions'->>'mode' WHEN 'all' THEN 1 WHEN 'any' THEN 2 ELSE 0 END)::smallint,
       (CASE p.t WHEN 'market_apy' THEN 0 WHEN 'apy_spread' THEN 1 WHEN 'health_factor_below' THEN 2
                 WHEN 'risk_forecast_above' THEN 3 WHEN 'price_change' THEN 4 ELSE 99 END)::smallint,
       COALESCE((p.pred->>'market_id')::bigint, 0),
       COALESCE((p.pred->>'other_market_id')::bigint, 0),
       (CASE COALESCE(p.pred->>'side', 'supply') WHEN 'supply' THEN 0 WHEN 'borrow' THEN 1 ELSE 99 END)::smallint,
       COALESCE((p.pred->>'horizon_hours')::bigint, CASE WHEN p.t = 'risk_forecast_above' THEN 24 ELSE 0 END),
       COALESCE((p.pred->>'chain_id')::bigint, CASE WHEN p.t = 'price_change' THEN 1 ELSE 0 END),
       COALESCE(p.pred->>'asset', ''),
       COALESCE((p.pred->>'window_seconds')::bigint, CASE WHEN p.t = 'price_change' THEN 3600 ELSE 0 END),
       (CASE WHEN p.t = 'health_factor_below' THEN 1 WHEN p.t = 'risk_forecast_above' THEN 0
             ELSE CASE p.pred->>'op' WHEN 'above' THEN 0 WHEN 'below' THEN 1 WHEN 'rises' THEN 2
                                     WHEN 'falls' THEN 3 WHEN 'moves' THEN 4 ELSE 99 END END)::smallint,
       (p.pred->>'threshold')::float8,
       COALESCE((p.pred->>'hysteresis')::float8, 0)
FROM (
    SELECT 0::bigint AS ord, definition->'trigger' AS pred, definition->'trigger'->>'type' AS t
    UNION ALL
    SELECT c.ord, c.item, c.item->>'type'
    FROM jsonb_array_elements(
        CASE WHEN jsonb_typeof(definition->'conditions') = 'object'
             THEN definition->'conditions'->'items' ELSE '[]'::jsonb END
    ) WITH ORDINALITY AS c(item, ord)
) p
$$;

CREATE TABLE rule_predicates (
    shard_bucket   smallint NOT NULL,
    rule_id        bigint NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    ord            bigint NOT NULL,
    definition_crc bigint NOT NULL,
    mode           smallint NOT NULL,
    kind           smallint NOT NULL,
    market_a       bigint NOT NULL,
    market_b       bigint NOT NULL,
    side           smallint NOT NULL,
    horizon        bigint NOT NULL,
    chain_id       bigint NOT NULL,
    asset          text NOT NULL,
    -- The rule model's asset pattern, checked once when written (the loader reads fixed widths).
    asset_ok       boolean NOT NULL,
    window_seconds bigint NOT NULL,
    op             smallint NOT NULL,
    threshold      float8,
    hysteresis     float8 NOT NULL,
    -- The columns the loader reads, packed once when written as fixed-width big-endian fields
    -- (tidewatch.rules.repository.PREDICATE_FIELDS): rule_id, definition_crc, ord, ord = 0, mode,
    -- kind, market_a, market_b, side, horizon, chain_id, the asset space-padded to 20 bytes
    -- (blank unless asset_ok), asset_ok, window_seconds, op, threshold (NaN when missing),
    -- hysteresis. A shard load reads the concatenation of a shard's values as one bytea.
    packed         bytea NOT NULL,
    PRIMARY KEY (shard_bucket, rule_id, ord)
);
CREATE INDEX rule_predicates_rule_idx ON rule_predicates (rule_id);

-- The predicates of the listed rules that are enabled, appended in shard order.
CREATE FUNCTION rule_predicates_fill(ids bigint[]) RETURNS void LANGUAGE sql AS $$
INSERT INTO rule_predicates
SELECT r.shard_bucket, r.id, p.ord, r.definition_crc, p.mode, p.kind, p.market_a, p.market_b, p.side,
       p.horizon, p.chain_id, p.asset, a.ok, p.window_seconds, p.op, p.threshold, p.hysteresis,
       int8send(r.id) || int8send(r.definition_crc) || int4send(p.ord::integer) || boolsend(p.ord = 0)
       || int2send(p.mode)
       || int2send(p.kind) || int8send(p.market_a) || int8send(p.market_b) || int2send(p.side)
       || int8send(p.horizon) || int8send(p.chain_id)
       || convert_to(rpad(CASE WHEN a.ok THEN p.asset ELSE '' END, 20), 'UTF8') || boolsend(a.ok)
       || int8send(p.window_seconds) || int2send(p.op) || float8send(COALESCE(p.threshold, 'NaN'::float8))
       || float8send(p.hysteresis)
FROM rules r
CROSS JOIN LATERAL rule_flat_predicates(r.definition) p
CROSS JOIN LATERAL (SELECT p.asset ~ '^[A-Za-z0-9.]{1,20}$' AS ok) a
WHERE r.enabled AND r.id = ANY(ids)
ORDER BY r.shard_bucket, r.id, p.ord
$$;

-- Bring the listed rules' predicate rows in step with the rules (in the caller's transaction):
-- an enabled rule gets the rows of its definition, any other rule none. A rule whose definition
-- cannot convert gets none (the loader flattens it from JSON and rejects it with the reason);
-- returns how many such rules there were.
CREATE FUNCTION rule_predicates_sync(ids bigint[]) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    one bigint;
    skipped integer := 0;
BEGIN
    DELETE FROM rule_predicates WHERE rule_id = ANY(ids);
    BEGIN
        PERFORM rule_predicates_fill(ids);
    EXCEPTION WHEN data_exception THEN
        FOREACH one IN ARRAY ids LOOP
            BEGIN
                PERFORM rule_predicates_fill(ARRAY[one]);
            EXCEPTION WHEN data_exception THEN
                skipped := skipped + 1;
            END;
        END LOOP;
    END;
    RETURN skipped;
END
$$;

SELECT rule_predicates_sync(ARRAY(SELECT id FROM rules WHERE enabled ORDER BY shard_bucket, id));
ANALYZE rule_predicates;

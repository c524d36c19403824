-- Rules: actions of a firing that failed (or never ran because the function died after claiming
-- the firing) are retried by later ticks; `action_rounds` counts those retry rounds.
ALTER TABLE rule_executions ADD COLUMN action_rounds integer NOT NULL DEFAULT 0;
CREATE INDEX rule_executions_unfinished_idx ON rule_executions (evaluated_at)
    WHERE fired AND (error IS NOT NULL OR actions = '[]'::jsonb);

-- Backfill of market history from archive nodes: which hourly buckets were read (or could not be),
-- per chain and scope ('markets', or 'positions:<address>' for a portfolio address). A bucket and
-- its rows are written in one transaction, so a killed run resumes at the first bucket missing here.
CREATE TABLE backfill_buckets (
    chain_id        integer NOT NULL,
    scope           text NOT NULL,
    bucket_start    timestamptz NOT NULL,
    block_number    bigint,
    status          text NOT NULL CHECK (status IN ('filled', 'unfillable')),
    detail          text,
    rows_written    integer NOT NULL DEFAULT 0,
    recorded_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, scope, bucket_start)
);
CREATE INDEX backfill_buckets_unfillable_idx ON backfill_buckets (chain_id, scope, bucket_start)
    WHERE status = 'unfillable';

-- One row per (chain, scope): the last backfill asked for, and how far it got.
CREATE TABLE backfill_jobs (
    chain_id        integer NOT NULL,
    scope           text NOT NULL,
    window_start    timestamptz NOT NULL,
    window_end      timestamptz NOT NULL,
    step_seconds    integer NOT NULL CHECK (step_seconds > 0),
    status          text NOT NULL CHECK (status IN ('running', 'done', 'failed')),
    buckets_total   integer NOT NULL DEFAULT 0,
    buckets_done    integer NOT NULL DEFAULT 0,
    error           text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chain_id, scope)
);

-- The Supabase (PostgreSQL) tables of the Kommo sales assistant's n8n workflows.
--
-- Runs on plain PostgreSQL 15 as well as on Supabase (paste it into the SQL editor, or
-- `psql "$SUPABASE_DB_URL" -v ON_ERROR_STOP=1 -f n8n/supabase/schema.sql`). Re-runnable: every
-- statement is IF NOT EXISTS / OR REPLACE, so running it again after an upgrade is safe.
--
--   vendedores         the salespeople (Kommo user id -> name, areas, active), written by the
--                      kommo-salespeople workflow from the service's salesperson sync
--   agenda             every salesperson's appointments, one row per appointment id (the
--                      kommo-scheduling workflow upserts it: the latest change wins)
--   agenda_<vendor>    a view per salesperson, e.g. agenda_8401234: agenda's rows of that salesperson,
--                      created by ensure_agenda_view(<vendor id>) (below)
--   historico          every appointment change the service reported, once each
--   n8n_chat_histories the AI agent's memory (n8n's Postgres Chat Memory node), keyed by conversation
--   n8n_seen_requests  the service's request ids of the last 5 minutes: a replayed request is refused
--
-- Column names follow the service's n8n contract (docs/contracts/), so the workflows map them one
-- to one. The service (DynamoDB) stays the source of truth for bookings and salespeople: these tables
-- are the sales team's view, written by n8n, idempotently (a retried request changes nothing).
--
-- Supabase exposes the public schema through its REST API: row level security is enabled on
-- every table below with no policy, so the anon and authenticated keys read nothing (the views run
-- with their reader's rights, security_invoker, so they show nothing to those keys either). n8n
-- connects as the tables' owner (the `postgres` user of the connection string), which RLS does not
-- restrict.

CREATE TABLE IF NOT EXISTS vendedores (
    id            bigint PRIMARY KEY,                          -- Kommo user id of the salesperson
    nome          text NOT NULL DEFAULT '',
    email         text NOT NULL DEFAULT '',
    areas         text[] NOT NULL DEFAULT '{}',                 -- e.g. {Auto,Imóveis}
    timezone      text NOT NULL DEFAULT 'America/Sao_Paulo',
    ativo         boolean NOT NULL DEFAULT true,                -- false: gone from Kommo or deactivated
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()            -- when the sync last changed the row
);
-- Upgrade: the agenda's name is no longer configurable (the view of a salesperson is agenda_<id>).
ALTER TABLE vendedores DROP COLUMN IF EXISTS agenda_table;
ALTER TABLE vendedores ENABLE ROW LEVEL SECURITY;

-- One table for every salesperson's appointments: a new column reaches every salesperson at once
-- (the per-salesperson tables of earlier versions drifted from their template).
CREATE TABLE IF NOT EXISTS agenda (
    id              text PRIMARY KEY,                          -- the service's appointment id
    vendor_id       bigint NOT NULL,                           -- Kommo user id of the salesperson
    lead_id         bigint NOT NULL,
    contact_id      bigint,
    contact_name    text NOT NULL DEFAULT '',
    contact_phone   text NOT NULL DEFAULT '',
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    status          text NOT NULL CHECK (status IN ('booked', 'cancelled', 'rescheduled')),
    conversation_id text NOT NULL DEFAULT '',
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,         -- the appointment as the service sent it
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),         -- when the last change was stored
    CHECK (ends_at > starts_at)
);
CREATE INDEX IF NOT EXISTS agenda_vendor_starts_at ON agenda (vendor_id, starts_at);
ALTER TABLE agenda ENABLE ROW LEVEL SECURITY;

-- Creates the view agenda_<vendor id> (agenda's rows of that salesperson, agenda's columns) if it does
-- not exist yet, and returns its name; p_refresh re-creates it (this file does, so that a column added
-- to agenda shows in every view). The workflows call it: kommo-salespeople for every salesperson it
-- stores, kommo-scheduling before each write. The name is built from a number, so it cannot name
-- anything else; two executions creating the same view at once is harmless.
CREATE OR REPLACE FUNCTION ensure_agenda_view(p_vendor_id bigint, p_refresh boolean DEFAULT false) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_view text := 'agenda_' || p_vendor_id;
BEGIN
    IF p_vendor_id IS NULL OR p_vendor_id <= 0 THEN
        RAISE EXCEPTION 'invalid salesperson id: %', p_vendor_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_refresh OR to_regclass(v_view) IS NULL THEN
        BEGIN
            EXECUTE format(
                'CREATE OR REPLACE VIEW %I WITH (security_invoker = true) AS SELECT * FROM agenda WHERE vendor_id = %s',
                v_view, p_vendor_id);
        EXCEPTION WHEN duplicate_table OR unique_violation THEN
            NULL;  -- created concurrently by another execution
        END;
    END IF;
    RETURN v_view;
END
$$;

-- Upgrade from the per-salesperson tables (agenda_<vendor>, made by criar_agenda from agenda_template):
-- their rows move into agenda (the most recently updated wins), the tables are dropped and their
-- names become views with the same columns and rows. One statement: all of it or nothing. A table
-- that something else depends on (a view or a foreign key of your own) stops it with an error and
-- changes nothing: drop or move that first.
DO $$
DECLARE
    v_old regclass;
BEGIN
    FOR v_old IN
        SELECT c.oid::regclass FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
          AND c.relname ~ '^agenda_[a-z0-9_]+$' AND c.relname <> 'agenda_template'
          AND (SELECT count(*) FROM pg_attribute a
               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                 AND a.attname IN ('id', 'vendor_id', 'lead_id', 'contact_id', 'contact_name', 'contact_phone',
                                   'starts_at', 'ends_at', 'status', 'conversation_id', 'payload',
                                   'created_at', 'updated_at')) = 13
    LOOP
        EXECUTE format(
            'INSERT INTO agenda AS a (id, vendor_id, lead_id, contact_id, contact_name, contact_phone, starts_at, '
            'ends_at, status, conversation_id, payload, created_at, updated_at) '
            'SELECT id, vendor_id, lead_id, contact_id, contact_name, contact_phone, starts_at, ends_at, status, '
            'conversation_id, payload, created_at, updated_at FROM %s '
            'ON CONFLICT (id) DO UPDATE SET vendor_id = excluded.vendor_id, lead_id = excluded.lead_id, '
            'contact_id = excluded.contact_id, contact_name = excluded.contact_name, '
            'contact_phone = excluded.contact_phone, starts_at = excluded.starts_at, ends_at = excluded.ends_at, '
            'status = excluded.status, conversation_id = excluded.conversation_id, payload = excluded.payload, '
            'updated_at = excluded.updated_at WHERE a.updated_at < excluded.updated_at',
            v_old);
        EXECUTE format('DROP TABLE %s', v_old);
    END LOOP;
END
$$;
DROP FUNCTION IF EXISTS criar_agenda(text);
DROP TABLE IF EXISTS agenda_template;

-- Every salesperson's view, (re-)created: those with appointments and those the sync stored.
DO $$
BEGIN
    PERFORM ensure_agenda_view(vendor_id, true)
    FROM (SELECT vendor_id FROM agenda UNION SELECT id FROM vendedores) AS v WHERE vendor_id > 0;
END
$$;

CREATE TABLE IF NOT EXISTS historico (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    event_key       text NOT NULL UNIQUE,      -- appointment id + status + start: a retry is stored once
    kind            text NOT NULL DEFAULT 'appointment',
    appointment_id  text NOT NULL,
    vendor_id       bigint NOT NULL,
    lead_id         bigint NOT NULL,
    conversation_id text NOT NULL DEFAULT '',
    status          text NOT NULL,
    starts_at       timestamptz,
    ends_at         timestamptz,
    agenda_table    text NOT NULL DEFAULT '',          -- the salesperson's view, agenda_<vendor>
    payload         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS historico_lead ON historico (lead_id, created_at);
CREATE INDEX IF NOT EXISTS historico_appointment ON historico (appointment_id);
ALTER TABLE historico ENABLE ROW LEVEL SECURITY;

-- The AI agent's memory, as n8n's Postgres Chat Memory node creates it on first use (created here so
-- that RLS is on from the start: it holds the clients' messages).
CREATE TABLE IF NOT EXISTS n8n_chat_histories (
    id         serial PRIMARY KEY,
    session_id varchar(255) NOT NULL,
    message    jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS n8n_chat_histories_session ON n8n_chat_histories (session_id);
ALTER TABLE n8n_chat_histories ENABLE ROW LEVEL SECURITY;

-- Every workflow inserts the request's X-Request-Id here once its signature checks (a second insert of
-- the same id, a replay, inserts nothing and is refused with 401); rows older than the signature's
-- window are deleted by the same statement.
CREATE TABLE IF NOT EXISTS n8n_seen_requests (
    request_id text PRIMARY KEY,
    seen_until timestamptz NOT NULL
);
ALTER TABLE n8n_seen_requests ENABLE ROW LEVEL SECURITY;

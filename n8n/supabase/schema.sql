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

-- ---------------------------------------------------------------------- the playbook
-- What the assistant knows of the business and how it sells, edited by the sales team (Supabase's table
-- editor, or scripts/playbook.py's CSV export/import); the reply and first-message workflows read it at every
-- message, so a change is live at the next one. Every row has a readable id (e.g. 'faq-prazo-entrega': the
-- assistant names the entries it used by it) and an area: the lead's area (Kommo's area field, e.g. 'Auto';
-- case and accents ignored), or '' for every area.
--
--   playbook_company         who the assistant speaks for: one row per area, or '' (an area's row wins)
--   playbook_offers          what the assistant may state of prices and conditions, between valid_from and
--                            valid_to (either empty: no bound; dates in the database's time zone)
--   playbook_faq             questions and their approved answers
--   playbook_qualification   the questions to ask, each with the lead field (a QUALIFICATION_FIELDS name)
--                            that set_fields writes with the answer
--   playbook_objections      a client's objections and the approved answers
--   playbook_handover_topics topics the assistant always hands over to a salesperson (legal, complaints, ...)
CREATE EXTENSION IF NOT EXISTS unaccent;

CREATE TABLE IF NOT EXISTS playbook_company (
    id              text PRIMARY KEY,
    area            text NOT NULL DEFAULT '',
    name            text NOT NULL DEFAULT '',
    sells           text NOT NULL DEFAULT '',               -- what the company sells, in a sentence
    address_clients text NOT NULL DEFAULT '',               -- e.g. 'pelo primeiro nome, de você'
    tone            text NOT NULL DEFAULT '',
    words_to_avoid  text[] NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX IF NOT EXISTS playbook_company_area ON playbook_company (area);

CREATE TABLE IF NOT EXISTS playbook_offers (
    id                    text PRIMARY KEY,
    area                  text NOT NULL DEFAULT '',
    name                  text NOT NULL,
    description           text NOT NULL DEFAULT '',
    prices_and_conditions text NOT NULL DEFAULT '',         -- the only prices and conditions it may state
    valid_from            date,
    valid_to              date
);

CREATE TABLE IF NOT EXISTS playbook_faq (
    id       text PRIMARY KEY,
    area     text NOT NULL DEFAULT '',
    question text NOT NULL,
    answer   text NOT NULL,
    tags     text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE IF NOT EXISTS playbook_qualification (
    id         text PRIMARY KEY,
    area       text NOT NULL DEFAULT '',
    question   text NOT NULL,
    field_name text NOT NULL DEFAULT ''                     -- a QUALIFICATION_FIELDS name ('' : asked, not written)
);

CREATE TABLE IF NOT EXISTS playbook_objections (
    id        text PRIMARY KEY,
    area      text NOT NULL DEFAULT '',
    objection text NOT NULL,
    answer    text NOT NULL
);

CREATE TABLE IF NOT EXISTS playbook_handover_topics (
    id       text PRIMARY KEY,
    area     text NOT NULL DEFAULT '',
    topic    text NOT NULL,
    keywords text[] NOT NULL DEFAULT '{}'
);

ALTER TABLE playbook_company ENABLE ROW LEVEL SECURITY;
ALTER TABLE playbook_offers ENABLE ROW LEVEL SECURITY;
ALTER TABLE playbook_faq ENABLE ROW LEVEL SECURITY;
ALTER TABLE playbook_qualification ENABLE ROW LEVEL SECURITY;
ALTER TABLE playbook_objections ENABLE ROW LEVEL SECURITY;
ALTER TABLE playbook_handover_topics ENABLE ROW LEVEL SECURITY;

-- A text lower-cased and without accents: 'Consórcio' and 'consorcio' are one word to the playbook.
CREATE OR REPLACE FUNCTION playbook_fold(p_text text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT lower(unaccent(coalesce(p_text, ''))) $$;

-- Whether a row of area p_row_area is for a lead of area p_area (its own area's rows, and those of every area).
CREATE OR REPLACE FUNCTION playbook_in_area(p_row_area text, p_area text) RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT p_row_area = '' OR playbook_fold(p_row_area) = playbook_fold(p_area) $$;

-- The FAQ entries, the offers valid today and the objections of the lead's area (and of every area) that
-- match the words of p_query (any of them; Portuguese stems, accents ignored: 'prazos' finds 'prazo'), best
-- first. The workflows' search_playbook tool calls it; the assistant names the ids it used.
CREATE OR REPLACE FUNCTION search_playbook(p_area text, p_query text, p_limit int DEFAULT 5)
RETURNS TABLE (id text, kind text, title text, body text, rank real)
LANGUAGE sql STABLE AS $$
    WITH wanted AS (  -- any of the query's stems: 'prazo | entreg'
        SELECT string_agg(quote_literal(lexeme), ' | ')::tsquery AS query
        FROM unnest(to_tsvector('portuguese', playbook_fold(p_query)))
    ), entries AS (
        SELECT f.id, 'faq' AS kind, f.question AS title, f.answer AS body, f.area,
               array_to_string(f.tags, ' ') AS keywords
        FROM playbook_faq f
        UNION ALL
        SELECT o.id, 'offer', o.name, concat_ws(E'\n', nullif(o.description, ''), nullif(o.prices_and_conditions, '')),
               o.area, ''
        FROM playbook_offers o
        WHERE (o.valid_from IS NULL OR o.valid_from <= current_date)
          AND (o.valid_to IS NULL OR o.valid_to >= current_date)
        UNION ALL
        SELECT b.id, 'objection', b.objection, b.answer, b.area, ''
        FROM playbook_objections b
    ), documents AS (
        SELECT e.*, setweight(to_tsvector('portuguese', playbook_fold(e.title || ' ' || e.keywords)), 'A')
                    || setweight(to_tsvector('portuguese', playbook_fold(e.body)), 'B') AS document
        FROM entries e
        WHERE playbook_in_area(e.area, p_area)
    )
    SELECT d.id, d.kind, d.title, d.body, ts_rank(d.document, wanted.query) AS rank
    FROM documents d, wanted
    WHERE d.document @@ wanted.query
    ORDER BY rank DESC, d.id
    LIMIT least(greatest(coalesce(p_limit, 5), 1), 20)
$$;

-- What the workflows put in the agent's instructions for a lead of area p_area: the company (the area's row,
-- or else the one of every area), the qualification questions and the hand-over topics, as one JSON object.
CREATE OR REPLACE FUNCTION playbook_for_area(p_area text) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'company', (SELECT row_to_json(c) FROM (
            SELECT id, name, sells, address_clients, tone, words_to_avoid FROM playbook_company
            WHERE playbook_in_area(area, p_area) ORDER BY area = '', id LIMIT 1) c),
        'qualification', (SELECT coalesce(json_agg(json_build_object(
            'id', id, 'question', question, 'field_name', field_name) ORDER BY area = '', id), '[]'::json)
            FROM playbook_qualification WHERE playbook_in_area(area, p_area)),
        'handover_topics', (SELECT coalesce(json_agg(json_build_object(
            'id', id, 'topic', topic, 'keywords', keywords) ORDER BY id), '[]'::json)
            FROM playbook_handover_topics WHERE playbook_in_area(area, p_area)))
$$;

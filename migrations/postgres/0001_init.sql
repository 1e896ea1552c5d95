-- simscore schema (Postgres). Kept column-for-column identical to migrations/sqlite so that one
-- store implementation serves both backends: ids are text (UUIDv7, time-ordered), times are epoch
-- milliseconds, JSON documents are text.

create table users (
    id          text primary key,
    name        text not null unique,
    role        text not null check (role in ('user', 'admin')),
    created_ms  bigint not null
);

create table tokens (
    id           text primary key,
    user_id      text not null references users(id),
    name         text not null,
    token_hash   text not null unique,
    created_ms   bigint not null,
    revoked_ms   bigint
);

create table datasets (
    id          text primary key,
    owner       text not null references users(id),
    name        text not null,
    sha256      text not null,
    size_bytes  bigint not null,
    arrays      text not null,
    created_ms  bigint not null,
    unique (owner, sha256)
);
create index datasets_sha256 on datasets (sha256);

create table jobs (
    id               text primary key,
    owner            text not null references users(id),
    kind             text not null,
    spec             text not null,
    priority         bigint not null default 0,
    status           text not null check (status in ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    progress         double precision not null default 0,
    message          text not null default '',
    attempts         bigint not null default 0,
    max_attempts     bigint not null,
    lease_owner      text,
    lease_expires_ms bigint,
    cancel_requested bigint not null default 0,
    error            text,
    result           text,
    reproducibility  text,
    idempotency_key  text,
    created_ms       bigint not null,
    started_ms       bigint,
    finished_ms      bigint,
    updated_ms       bigint not null,
    unique (owner, idempotency_key)
);
-- The claim query scans runnable jobs by priority, then age.
create index jobs_claim on jobs (status, priority desc, created_ms);
create index jobs_owner on jobs (owner, id);

create table job_inputs (
    job_id     text not null references jobs(id) on delete cascade,
    dataset_id text not null,
    sha256     text not null,
    primary key (job_id, dataset_id)
);
create index job_inputs_dataset on job_inputs (dataset_id);

create table job_events (
    seq     bigint generated always as identity primary key,
    job_id  text not null references jobs(id) on delete cascade,
    ts_ms   bigint not null,
    kind    text not null,
    data    text not null
);
create index job_events_job on job_events (job_id, seq);

create table artifacts (
    job_id        text not null references jobs(id) on delete cascade,
    name          text not null,
    content_type  text not null,
    sha256        text not null,
    size_bytes    bigint not null,
    created_ms    bigint not null,
    primary key (job_id, name)
);

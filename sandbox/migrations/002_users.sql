-- 002: console users belonging to a customer
CREATE TABLE users (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id     bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    email           text        NOT NULL,
    display_name    text,
    password_hash   text        NOT NULL,
    role            text        NOT NULL DEFAULT 'developer'
                    CHECK (role IN ('owner', 'admin', 'developer', 'finance', 'viewer')),
    mfa_enabled     boolean     NOT NULL DEFAULT false,
    last_login_at   timestamptz,
    disabled_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_customer_id_idx ON users (customer_id);

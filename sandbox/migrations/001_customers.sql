-- 001: tenant accounts (the paying organisations)
CREATE TABLE customers (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    external_id         uuid        NOT NULL DEFAULT gen_random_uuid(),
    name                text        NOT NULL,
    legal_name          text,
    billing_email       text        NOT NULL,
    country_code        char(2)     NOT NULL DEFAULT 'US',
    plan                text        NOT NULL DEFAULT 'starter'
                        CHECK (plan IN ('starter', 'growth', 'enterprise')),
    status              text        NOT NULL DEFAULT 'active'
                        CHECK (status IN ('active', 'suspended', 'closed')),
    stripe_customer_id  text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customers_external_id_key UNIQUE (external_id),
    CONSTRAINT customers_stripe_customer_id_key UNIQUE (stripe_customer_id)
);
CREATE INDEX customers_status_idx ON customers (status);
CREATE INDEX customers_billing_email_idx ON customers (lower(billing_email));

-- 012: invoices and the Stripe webhook event log
CREATE TABLE invoices (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id         bigint      NOT NULL REFERENCES customers (id),
    stripe_invoice_id   text,
    number              text        NOT NULL,
    status              text        NOT NULL DEFAULT 'draft'
                        CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
    currency            char(3)     NOT NULL DEFAULT 'USD',
    amount_due_cents    bigint      NOT NULL CHECK (amount_due_cents >= 0),
    amount_paid_cents   bigint      NOT NULL DEFAULT 0 CHECK (amount_paid_cents >= 0),
    period_start        date        NOT NULL,
    period_end          date        NOT NULL,
    due_at              timestamptz,
    paid_at             timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoices_number_key UNIQUE (number),
    CONSTRAINT invoices_stripe_invoice_id_key UNIQUE (stripe_invoice_id),
    CONSTRAINT invoices_period_check CHECK (period_end >= period_start)
);
CREATE INDEX invoices_customer_id_idx ON invoices (customer_id);
CREATE INDEX invoices_status_idx ON invoices (status);

CREATE TABLE stripe_events (
    id              text        PRIMARY KEY,           -- evt_... (idempotency key)
    type            text        NOT NULL,
    customer_id     bigint      REFERENCES customers (id),
    invoice_id      bigint      REFERENCES invoices (id),
    payload         jsonb       NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz
);
CREATE INDEX stripe_events_customer_id_idx ON stripe_events (customer_id);
CREATE INDEX stripe_events_invoice_id_idx ON stripe_events (invoice_id);
CREATE INDEX stripe_events_type_idx ON stripe_events (type);
CREATE INDEX stripe_events_unprocessed_idx ON stripe_events (received_at) WHERE processed_at IS NULL;

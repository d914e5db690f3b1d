-- 003: publishers (a customer may run several publisher accounts)
CREATE TABLE publishers (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id             bigint      NOT NULL REFERENCES customers (id) ON DELETE CASCADE,
    name                    text        NOT NULL,
    website                 text,
    payout_method           text        NOT NULL DEFAULT 'wire'
                            CHECK (payout_method IN ('wire', 'paypal', 'payoneer')),
    payout_threshold_cents  bigint      NOT NULL DEFAULT 10000 CHECK (payout_threshold_cents >= 0),
    kyc_status              text        NOT NULL DEFAULT 'pending'
                            CHECK (kyc_status IN ('pending', 'verified', 'rejected')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT publishers_customer_name_key UNIQUE (customer_id, name)
);
CREATE INDEX publishers_customer_id_idx ON publishers (customer_id);
CREATE INDEX publishers_kyc_status_idx ON publishers (kyc_status);

-- 005: demand sources and the per-publisher credentials reference
CREATE TABLE ad_networks (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code                text        NOT NULL,
    name                text        NOT NULL,
    adapter_version     text        NOT NULL,
    bidding_supported   boolean     NOT NULL DEFAULT false,
    enabled             boolean     NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ad_networks_code_key UNIQUE (code)
);

CREATE TABLE publisher_network_accounts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    publisher_id    bigint      NOT NULL REFERENCES publishers (id) ON DELETE CASCADE,
    ad_network_id   bigint      NOT NULL REFERENCES ad_networks (id),
    account_ref     text        NOT NULL,          -- reference into the secret manager, never the secret
    status          text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT publisher_network_accounts_key UNIQUE (publisher_id, ad_network_id)
);
CREATE INDEX publisher_network_accounts_ad_network_id_idx ON publisher_network_accounts (ad_network_id);

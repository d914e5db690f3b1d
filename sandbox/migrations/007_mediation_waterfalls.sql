-- 007: mediation waterfalls and their ordered line items
CREATE TABLE mediation_waterfalls (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ad_unit_id      bigint      NOT NULL REFERENCES ad_units (id) ON DELETE CASCADE,
    name            text        NOT NULL,
    country_codes   text[]      NOT NULL DEFAULT '{}',
    is_default      boolean     NOT NULL DEFAULT false,
    version         integer     NOT NULL DEFAULT 1,
    status          text        NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'live', 'archived')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT mediation_waterfalls_unit_name_version_key UNIQUE (ad_unit_id, name, version)
);
CREATE INDEX mediation_waterfalls_ad_unit_id_idx ON mediation_waterfalls (ad_unit_id);
CREATE UNIQUE INDEX mediation_waterfalls_one_default_idx
    ON mediation_waterfalls (ad_unit_id) WHERE is_default AND status = 'live';

CREATE TABLE waterfall_entries (
    id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    waterfall_id            bigint  NOT NULL REFERENCES mediation_waterfalls (id) ON DELETE CASCADE,
    ad_network_id           bigint  NOT NULL REFERENCES ad_networks (id),
    priority                integer NOT NULL CHECK (priority > 0),
    ecpm_floor_micros       bigint  NOT NULL DEFAULT 0,
    network_placement_id    text    NOT NULL,
    CONSTRAINT waterfall_entries_priority_key UNIQUE (waterfall_id, priority)
);
CREATE INDEX waterfall_entries_waterfall_id_idx ON waterfall_entries (waterfall_id);
CREATE INDEX waterfall_entries_ad_network_id_idx ON waterfall_entries (ad_network_id);

"""Seed data for the sandbox's ApexMediation database: (table, INSERT), applied to empty tables only."""

from __future__ import annotations

# Each entry: (table, SQL). Run in order when the table exists and is empty.
SEED: list[tuple[str, str]] = [
    ("customers", """
        INSERT INTO customers (name, legal_name, billing_email, country_code, plan, stripe_customer_id, created_at)
        SELECT c.name, c.name || ' Inc.', 'billing@' || lower(replace(c.name, ' ', '')) || '.example',
               c.cc, c.plan, 'cus_sandbox' || lpad(c.i::text, 4, '0'), now() - (c.i * interval '40 days')
        FROM (VALUES (1, 'Pixel Forge', 'US', 'enterprise'), (2, 'Tiny Titans', 'DE', 'growth'),
                     (3, 'Orbit Games', 'GB', 'growth'), (4, 'Mellow Apps', 'FR', 'starter'),
                     (5, 'Quantum Puzzle', 'JP', 'starter')) AS c(i, name, cc, plan)"""),
    ("users", """
        INSERT INTO users (customer_id, email, display_name, password_hash, role, mfa_enabled, last_login_at)
        SELECT c.id, r.role || '.' || c.id || '@' || split_part(c.billing_email, '@', 2),
               initcap(r.role) || ' ' || c.id,
               '$argon2id$v=19$m=65536,t=3,p=4$c2FuZGJveA$' || md5(c.id::text || r.role),
               r.role, r.role IN ('owner', 'admin', 'finance'), now() - (c.id * interval '3 hours')
        FROM customers c CROSS JOIN (VALUES ('owner'), ('developer'), ('finance')) AS r(role)"""),
    ("publishers", """
        INSERT INTO publishers (customer_id, name, website, payout_method, kyc_status)
        SELECT c.id, c.name || CASE WHEN g = 1 THEN '' ELSE ' Studio ' || g END,
               'https://' || lower(replace(c.name, ' ', '')) || '.example',
               (ARRAY['wire', 'paypal', 'payoneer'])[1 + (c.id + g) % 3],
               CASE WHEN c.id = 5 THEN 'pending' ELSE 'verified' END
        FROM customers c CROSS JOIN generate_series(1, 2) g
        WHERE g = 1 OR c.plan <> 'starter'"""),
    ("apps", """
        INSERT INTO apps (publisher_id, name, platform, bundle_id, store_url, coppa_directed)
        SELECT p.id, 'App ' || p.id || '-' || pl.platform, pl.platform,
               'com.example.p' || p.id || '.' || pl.platform,
               'https://store.example/' || p.id || '/' || pl.platform, p.id % 4 = 0
        FROM publishers p CROSS JOIN (VALUES ('ios'), ('android')) AS pl(platform)"""),
    ("ad_networks", """
        INSERT INTO ad_networks (code, name, adapter_version, bidding_supported)
        VALUES ('admob', 'Google AdMob', '23.0.0.1', true), ('applovin', 'AppLovin', '12.4.0.0', true),
               ('unity', 'Unity Ads', '4.10.0.0', true), ('ironsource', 'ironSource', '7.9.0.0', true),
               ('meta', 'Meta Audience Network', '6.17.0.0', true), ('vungle', 'Liftoff Monetize', '7.3.0.0', true),
               ('mintegral', 'Mintegral', '16.7.0.0', false), ('pangle', 'Pangle', '5.9.0.0', false)"""),
    ("publisher_network_accounts", """
        INSERT INTO publisher_network_accounts (publisher_id, ad_network_id, account_ref)
        SELECT p.id, n.id, 'secretsmanager://apexmediation/pub/' || p.id || '/' || n.code
        FROM publishers p CROSS JOIN ad_networks n WHERE (p.id + n.id) % 2 = 0 OR n.code = 'admob'"""),
    ("ad_units", """
        INSERT INTO ad_units (app_id, name, format, floor_cpm_micros, refresh_seconds)
        SELECT a.id, f.format || '_main', f.format, f.floor, CASE WHEN f.format = 'banner' THEN 30 END
        FROM apps a CROSS JOIN (VALUES ('banner', 150000), ('interstitial', 2500000), ('rewarded', 8000000))
             AS f(format, floor)"""),
    ("mediation_waterfalls", """
        INSERT INTO mediation_waterfalls (ad_unit_id, name, country_codes, is_default, version, status)
        SELECT u.id, 'default', '{}', true, 1, 'live' FROM ad_units u"""),
    ("waterfall_entries", """
        INSERT INTO waterfall_entries (waterfall_id, ad_network_id, priority, ecpm_floor_micros, network_placement_id)
        SELECT w.id, 1 + (w.id + k) % 8, k, (5 - k) * 1000000, 'plc-' || w.id || '-' || k
        FROM mediation_waterfalls w CROSS JOIN generate_series(1, 4) k"""),
    ("sessions", """
        INSERT INTO sessions (user_id, token_hash, ip, user_agent, created_at, last_seen_at, expires_at)
        SELECT u.id, encode(sha256(('session' || u.id || '-' || g)::bytea), 'hex'),
               ('198.51.100.' || (u.id * 7 + g) % 250)::inet, 'Mozilla/5.0 (sandbox)',
               now() - g * interval '1 hour', now() - g * interval '10 minutes', now() + interval '30 minutes'
        FROM users u CROSS JOIN generate_series(1, 2) g"""),
    ("api_keys", """
        INSERT INTO api_keys (customer_id, created_by, name, prefix, key_hash, scopes, last_used_at)
        SELECT c.id, (SELECT min(id) FROM users u WHERE u.customer_id = c.id), 'reporting',
               'apx_' || substr(md5('key' || c.id), 1, 8), encode(sha256(('secret' || c.id)::bytea), 'hex'),
               '{reporting:read}', now() - interval '2 hours'
        FROM customers c"""),
    ("feature_flags", """
        INSERT INTO feature_flags (key, description, enabled, rollout_percentage)
        VALUES ('bidding.v2', 'In-app bidding auction v2', true, 50),
               ('waterfall.auto_optimize', 'Automatic waterfall eCPM optimisation', true, 100),
               ('console.new_reports', 'New reporting UI', false, 0),
               ('sdk.config_cache_v3', 'SDK config cache format v3', true, 25),
               ('payouts.payoneer', 'Payoneer payouts', true, 100),
               ('fraud.ivt_filter', 'Invalid-traffic filter', true, 100)"""),
    ("feature_flag_overrides", """
        INSERT INTO feature_flag_overrides (flag_id, customer_id, enabled)
        SELECT f.id, c.id, true FROM feature_flags f CROSS JOIN customers c
        WHERE f.key = 'console.new_reports' AND c.plan = 'enterprise'"""),
    ("audit_logs", """
        INSERT INTO audit_logs (created_at, customer_id, actor_user_id, actor_type, actor, action,
                                target_type, target, ip, user_agent, metadata)
        SELECT now() - g * interval '3 hours', u.customer_id, u.id, 'user', u.email,
               (ARRAY['user.login', 'api_key.create', 'waterfall.update', 'payout.settings.update',
                      'user.role.change', 'sdk_config.publish'])[1 + g % 6],
               (ARRAY['user', 'api_key', 'mediation_waterfall', 'publisher', 'user', 'sdk_config'])[1 + g % 6],
               (1 + g % 40)::text, ('203.0.113.' || (g % 250))::inet, 'Mozilla/5.0 (sandbox)',
               jsonb_build_object('request_id', md5(g::text))
        FROM generate_series(1, 240) g
        JOIN users u ON u.id = 1 + g % (SELECT count(*) FROM users)"""),
    ("invoices", """
        INSERT INTO invoices (customer_id, stripe_invoice_id, number, status, amount_due_cents, amount_paid_cents,
                              period_start, period_end, due_at, paid_at)
        SELECT c.id, 'in_sandbox' || c.id || m, 'APX-' || lpad(c.id::text, 4, '0') || '-' || m,
               CASE WHEN m < 3 THEN 'paid' ELSE 'open' END, 49900 * c.id, CASE WHEN m < 3 THEN 49900 * c.id ELSE 0 END,
               (date_trunc('month', now()) - (4 - m) * interval '1 month')::date,
               (date_trunc('month', now()) - (3 - m) * interval '1 month' - interval '1 day')::date,
               date_trunc('month', now()) - (3 - m) * interval '1 month' + interval '14 days',
               CASE WHEN m < 3 THEN date_trunc('month', now()) - (3 - m) * interval '1 month' + interval '3 days' END
        FROM customers c CROSS JOIN generate_series(1, 3) m"""),
    ("stripe_events", """
        INSERT INTO stripe_events (id, type, customer_id, invoice_id, payload, processed_at)
        SELECT 'evt_sandbox' || i.id || '_' || t.n, t.type, i.customer_id, i.id,
               jsonb_build_object('object', 'event', 'type', t.type, 'invoice', i.stripe_invoice_id), now()
        FROM invoices i CROSS JOIN (VALUES (1, 'invoice.finalized'), (2, 'invoice.paid')) AS t(n, type)
        WHERE t.n = 1 OR i.status = 'paid'"""),
    ("sdk_configs", """
        INSERT INTO sdk_configs (app_id, version, config, min_sdk_version, is_active, published_by, published_at)
        SELECT a.id, v, jsonb_build_object('app_id', a.id, 'app_key', a.app_key, 'version', v,
                                           'refresh_seconds', 30, 'bidding', v = 2),
               '3.' || v || '.0', v = 2,
               (SELECT min(u.id) FROM users u JOIN publishers p ON p.customer_id = u.customer_id
                WHERE p.id = a.publisher_id), now() - (3 - v) * interval '7 days'
        FROM apps a CROSS JOIN generate_series(1, 2) v"""),
    ("revenue_daily", """
        INSERT INTO revenue_daily (day, publisher_id, app_id, ad_unit_id, ad_network_id, country_code,
                                   requests, impressions, clicks, revenue_micros)
        SELECT d::date, a.publisher_id, a.id, u.id, e.ad_network_id, cc,
               2000 + (u.id * 37 + e.ad_network_id * 11) % 900,
               1500 + (u.id * 31 + e.ad_network_id * 7) % 500,
               (u.id + e.ad_network_id) % 40,
               (1500 + (u.id * 31) % 500) * (400 + (u.id * 13 + e.ad_network_id) % 9000)
        FROM generate_series(current_date - 29, current_date, interval '1 day') d
        CROSS JOIN ad_units u
        JOIN apps a ON a.id = u.app_id
        JOIN mediation_waterfalls w ON w.ad_unit_id = u.id
        JOIN waterfall_entries e ON e.waterfall_id = w.id AND e.priority <= 2
        CROSS JOIN (VALUES ('US'), ('DE')) AS c(cc)"""),
]

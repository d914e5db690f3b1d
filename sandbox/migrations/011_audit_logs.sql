-- 011: append-only audit trail of sensitive actions
CREATE TABLE audit_logs (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    created_at      timestamptz NOT NULL DEFAULT now(),
    customer_id     bigint      REFERENCES customers (id) ON DELETE SET NULL,
    actor_user_id   bigint      REFERENCES users (id) ON DELETE SET NULL,
    actor_type      text        NOT NULL DEFAULT 'user' CHECK (actor_type IN ('user', 'api_key', 'system')),
    actor           text        NOT NULL,              -- email, key prefix or service name
    action          text        NOT NULL,              -- e.g. 'user.login', 'api_key.create'
    target_type     text,
    target          text,
    ip              inet,
    user_agent      text,
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_logs_created_at_idx ON audit_logs (created_at);
CREATE INDEX audit_logs_customer_id_created_at_idx ON audit_logs (customer_id, created_at);
CREATE INDEX audit_logs_actor_user_id_idx ON audit_logs (actor_user_id);
CREATE INDEX audit_logs_action_idx ON audit_logs (action);

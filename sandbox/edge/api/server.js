// A small ApexMediation backend for the pytest-apexready sandbox.
//
// APEX_EDGE_MODE=compliant (default) is the backend the checklist asks for; APEX_EDGE_MODE=drifted
// is the same API with the drift the failing direction of the checks needs (no rate limiter, no
// helmet, open CORS, no compression or Cache-Control, an unpaginated list, an OpenAPI document
// missing two live routes, no export, 30-day tokens without refresh, no age verification, no
// validation). Configuration comes from the environment only (see sandbox/edge/__init__.py).
"use strict";

const crypto = require("node:crypto");
const express = require("express");
const helmet = require("helmet");
const cors = require("cors");
const compression = require("compression");
const { rateLimit } = require("express-rate-limit");
const { z } = require("zod");
const jwt = require("jsonwebtoken");
const promClient = require("prom-client");
const { Pool } = require("pg");
const Redis = require("ioredis");
const { openapi } = require("./openapi");

const env = process.env;
const DRIFTED = env.APEX_EDGE_MODE === "drifted";
const CONSOLE_ORIGIN = env.APEX_CONSOLE_ORIGIN || "https://console.apexmediation.local";
const JWT_SECRET = env.APEX_JWT_SECRET || crypto.randomBytes(32).toString("hex");
const ACCESS_TTL_S = DRIFTED ? 30 * 86400 : 7 * 86400;
const REFRESH_TTL_S = 30 * 86400;
const MAX_PAGE = 100;

const pool = new Pool({
  host: env.PGHOST || "127.0.0.1", port: Number(env.PGPORT || 5432), database: env.PGDATABASE || "apexmediation",
  user: env.PGUSER || "apex_app", password: env.PGPASSWORD, max: 4, connectionTimeoutMillis: 2000,
  application_name: DRIFTED ? "apex-api-drifted" : "apex-api",
});
pool.on("error", () => {}); // a dropped idle connection is retried on the next query
const redis = new Redis({
  host: env.REDIS_HOST || "127.0.0.1", port: Number(env.REDIS_PORT || 6379), username: env.REDIS_USER,
  password: env.REDIS_PASSWORD, lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000,
  enableOfflineQueue: false,
});
redis.on("error", () => {});

// ------------------------------------------------------------------ metrics (names are a contract:
// the observability checks scrape them; see README "The edge")
const registry = new promClient.Registry();
promClient.collectDefaultMetrics({ register: registry, prefix: "apex_api_" });
const httpDuration = new promClient.Histogram({
  name: "http_request_duration_seconds", help: "API request duration by route, method and status",
  labelNames: ["method", "route", "status"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});
const httpRequests = new promClient.Counter({
  name: "http_requests_total", help: "API requests by route, method and status",
  labelNames: ["method", "route", "status"], registers: [registry],
});
const signups = new promClient.Counter({
  name: "customers_created_total", help: "Customers created through signup", registers: [registry],
});
const signupsRefused = new promClient.Counter({
  name: "signups_refused_total", help: "Signups refused, by reason", labelNames: ["reason"], registers: [registry],
});
const customersActive = new promClient.Gauge({
  name: "customers_active", help: "Active customers (read from PostgreSQL at start, then counted)",
  registers: [registry],
});
new promClient.Counter({ name: "customers_churned_total", help: "Customers who closed their account",
  registers: [registry] });
const impressions = new promClient.Counter({
  name: "ad_impressions_total", help: "Ad impressions reported by the SDK, by network",
  labelNames: ["network"], registers: [registry],
});
const revenueCents = new promClient.Gauge({
  name: "stripe_revenue_cents", help: "Cumulative revenue reported with impressions, in cents",
  registers: [registry],
});
const sdkCrashes = new promClient.Counter({
  name: "sdk_crashes_total", help: "SDK crashes reported by apps", registers: [registry],
});
const aiSpend = new promClient.Counter({
  name: "openai_spend_dollars_total", help: "AI automation spend in USD, by service", labelNames: ["service"],
  registers: [registry],
});
const aiMonthly = new promClient.Gauge({
  name: "openai_monthly_spend_dollars", help: "AI automation spend this month in USD, by service",
  labelNames: ["service"], registers: [registry],
});
for (const service of ["sales-automation", "growth-engine", "self-evolving-system"]) {
  aiSpend.inc({ service }, 0);
  aiMonthly.set({ service }, 0);
}
pool.query("SELECT count(*)::int AS n FROM customers WHERE status = 'active'")
  .then(({ rows }) => customersActive.set(rows[0].n), () => {});

// ------------------------------------------------------------------ app
const app = express();
app.set("trust proxy", "loopback"); // nginx on 127.0.0.1 sets X-Forwarded-For
app.use((req, res, next) => {
  const end = httpDuration.startTimer();
  res.on("finish", () => {
    const labels = { method: req.method, route: req.route ? req.baseUrl + req.route.path : "unmatched",
      status: String(res.statusCode) };
    const seconds = end(labels);
    httpRequests.inc(labels);
    // one JSON line per request (the log store's "apexmediation-api" stream); Prometheus' scrapes are left out
    if (req.path !== "/metrics") {
      process.stdout.write(JSON.stringify({ ts: Date.now() / 1000, level: res.statusCode >= 500 ? "error" : "info",
        ...labels, ms: Math.round(seconds * 10000) / 10 }) + "\n");
    }
  });
  next();
});

// sandbox traffic generator (observability issue): direct requests only, never through nginx
app.use((req, res, next) => {
  const fault = req.get("X-Apex-Fault");
  if (!fault || req.get("X-Forwarded-For")) return next();
  if (fault === "error") return res.status(500).json({ error: "injected_fault" });
  const slow = /^slow=(\d{1,5})$/.exec(fault);
  if (slow) return setTimeout(next, Number(slow[1]));
  next();
});

let limiter = null;
if (!DRIFTED) {
  app.use(helmet({ strictTransportSecurity: { maxAge: 31536000, includeSubDomains: true } }));
  app.use(cors({ origin: [CONSOLE_ORIGIN], credentials: true, maxAge: 600 }));
  app.use(compression({ threshold: 1024 }));
  limiter = rateLimit({
    windowMs: 15 * 60 * 1000, limit: 100, standardHeaders: "draft-7", legacyHeaders: false,
    skip: (req) => req.path === "/health" || req.path === "/metrics" || req.path.startsWith("/internal/"),
  });
  app.use(limiter);
  app.use((req, res, next) => {
    // every response carries Cache-Control; routes that may be cached say so themselves
    res.set("Cache-Control", "no-store");
    next();
  });
} else if (env.APEX_DRIFT_CORS === "fixed") {
  // a fixed origin sent to everyone: looks restricted, but an unknown Origin is answered too
  app.use((req, res, next) => {
    res.set("Access-Control-Allow-Origin", CONSOLE_ORIGIN);
    res.set("Access-Control-Allow-Credentials", "true");
    if (req.method === "OPTIONS") {
      res.set("Access-Control-Allow-Methods", "GET,POST,PUT,DELETE");
      res.set("Access-Control-Allow-Headers", req.get("Access-Control-Request-Headers") || "*");
      return res.status(204).end();
    }
    next();
  });
} else {
  app.use(cors({ origin: "*" }));
}
app.use(express.json({ limit: "100kb" }));
app.use((err, req, res, next) => {
  // a body that is not JSON at all is a validation error too
  if (err && err.type === "entity.parse.failed") return res.status(400).json({ error: "validation_failed",
    issues: [{ path: [], message: "body is not valid JSON" }] });
  next(err);
});

const validate = (schema, where = "body") => (req, res, next) => {
  if (DRIFTED) return next();
  const parsed = schema.safeParse(req[where] ?? {});
  if (!parsed.success) {
    return res.status(400).json({ error: "validation_failed", issues: parsed.error.issues });
  }
  req.valid = parsed.data;
  next();
};
const input = (req, where = "body") => req.valid ?? req[where] ?? {};

function signAccess(user) {
  return jwt.sign({ sub: String(user.id), email: user.email, typ: "access" }, JWT_SECRET, { expiresIn: ACCESS_TTL_S });
}
function signRefresh(user) {
  return jwt.sign({ sub: String(user.id), email: user.email, typ: "refresh" }, JWT_SECRET, { expiresIn: REFRESH_TTL_S });
}
function auth(req, res, next) {
  const header = req.get("Authorization") || "";
  try {
    const claims = jwt.verify(header.replace(/^Bearer /, ""), JWT_SECRET);
    if (claims.typ !== "access") throw new Error("not an access token");
    req.user = { id: Number(claims.sub), email: claims.email };
    next();
  } catch {
    res.status(401).json({ error: "unauthorized" });
  }
}
function hashPassword(password, salt = crypto.randomBytes(16).toString("hex")) {
  return `scrypt$${salt}$${crypto.scryptSync(password, salt, 32).toString("hex")}`;
}
function passwordMatches(password, stored) {
  const [scheme, salt, hash] = String(stored).split("$");
  if (scheme !== "scrypt") return false;
  const candidate = Buffer.from(hashPassword(password, salt).split("$")[2], "hex");
  return crypto.timingSafeEqual(candidate, Buffer.from(hash, "hex"));
}
function ageOn(birthDate, today = new Date()) {
  const b = new Date(birthDate + "T00:00:00Z");
  let age = today.getUTCFullYear() - b.getUTCFullYear();
  const m = today.getUTCMonth() - b.getUTCMonth();
  if (m < 0 || (m === 0 && today.getUTCDate() < b.getUTCDate())) age -= 1;
  return age;
}

// ------------------------------------------------------------------ pagination
const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(20),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/).optional(),
}).strict();
const encodeCursor = (id) => Buffer.from(String(id)).toString("base64url");
const decodeCursor = (c) => (c ? Number(Buffer.from(c, "base64url").toString()) || 0 : 0);

function listRoute(sql, { paginate = true } = {}) {
  return async (req, res) => {
    if (!paginate) {
      const { rows } = await pool.query(sql.replace("WHERE id > $1", "").replace("LIMIT $2", ""));
      return res.json({ data: rows });
    }
    const { cursor } = input(req, "query");
    const limit = Number(input(req, "query").limit) || 20; // the drifted API enforces no maximum
    const { rows } = await pool.query(sql, [decodeCursor(cursor), limit + 1]);
    const page = rows.slice(0, limit);
    const next = rows.length > page.length ? encodeCursor(page[page.length - 1].id) : null;
    res.json({ data: page, limit, next_cursor: next });
  };
}

// ------------------------------------------------------------------ routes
app.get("/health", async (req, res) => {
  const components = {};
  try {
    await pool.query("SELECT 1");
    components.postgres = { status: "up" };
  } catch (e) {
    components.postgres = { status: "down", error: e.code || e.message };
  }
  try {
    if (redis.status !== "ready") await redis.connect().catch(() => {});
    components.redis = { status: (await redis.ping()) === "PONG" ? "up" : "down" };
  } catch (e) {
    components.redis = { status: "down", error: e.message };
  }
  const healthy = Object.values(components).every((c) => c.status === "up");
  res.set("Cache-Control", "no-store");
  res.status(healthy ? 200 : 503).json({ status: healthy ? "healthy" : "unhealthy", service: "api", components });
});

app.get("/metrics", async (req, res) => {
  res.set("Content-Type", registry.contentType);
  res.end(await registry.metrics());
});

app.get("/openapi.json", (req, res) => {
  if (!DRIFTED) res.set("Cache-Control", "public, max-age=300");
  res.json(openapi({ drifted: DRIFTED }));
});

const signupBody = z.object({
  email: z.string().email().max(200),
  password: z.string().min(12).max(200),
  birthDate: z.string().regex(/^\d{4}-\d{2}-\d{2}$/),
  company: z.string().min(1).max(200),
}).strict();
app.post("/api/v1/auth/signup", validate(signupBody), async (req, res) => {
  const body = input(req);
  // COPPA: refused before anything is written (no transaction is even opened)
  if (!DRIFTED && ageOn(body.birthDate) < 13) {
    signupsRefused.inc({ reason: "under_13" });
    return res.status(403).json({ error: "age_verification_failed", message: "users must be at least 13 years old" });
  }
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const customer = await client.query(
      "INSERT INTO customers (name, billing_email) VALUES ($1, $2) RETURNING id", [body.company, body.email]);
    const user = await client.query(
      "INSERT INTO users (customer_id, email, display_name, password_hash, role) VALUES ($1, $2, $3, $4, 'owner') " +
      "RETURNING id, email", [customer.rows[0].id, body.email, body.company, hashPassword(String(body.password))]);
    await client.query("COMMIT");
    signups.inc();
    customersActive.inc();
    res.status(201).json({ id: user.rows[0].id, email: user.rows[0].email });
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    if (e.code === "23505") return res.status(409).json({ error: "email_taken" });
    throw e;
  } finally {
    client.release();
  }
});

const signinBody = z.object({ email: z.string().email(), password: z.string().min(1).max(200) }).strict();
app.post("/api/v1/auth/signin", validate(signinBody), async (req, res) => {
  const { email, password } = input(req);
  const { rows } = await pool.query("SELECT id, email, password_hash FROM users WHERE lower(email) = lower($1) " +
    "AND disabled_at IS NULL", [email]);
  if (!rows.length || !passwordMatches(String(password), rows[0].password_hash)) {
    return res.status(401).json({ error: "invalid_credentials" });
  }
  const out = { accessToken: signAccess(rows[0]), tokenType: "Bearer", expiresIn: ACCESS_TTL_S };
  if (!DRIFTED) out.refreshToken = signRefresh(rows[0]);
  res.json(out);
});

if (!DRIFTED) {
  const refreshBody = z.object({ refreshToken: z.string().min(20).max(2000) }).strict();
  app.post("/api/v1/auth/refresh", validate(refreshBody), (req, res) => {
    try {
      const claims = jwt.verify(input(req).refreshToken, JWT_SECRET);
      if (claims.typ !== "refresh") throw new Error("not a refresh token");
      const user = { id: claims.sub, email: claims.email };
      res.json({ accessToken: signAccess(user), refreshToken: signRefresh(user), tokenType: "Bearer",
        expiresIn: ACCESS_TTL_S });
    } catch {
      res.status(401).json({ error: "invalid_refresh_token" });
    }
  });
}

app.get("/api/v1/me", auth, validate(z.object({}).strict(), "query"), async (req, res) => {
  const { rows } = await pool.query("SELECT id, email, display_name, role, created_at FROM users WHERE id = $1",
    [req.user.id]);
  res.json(rows[0] || {});
});

if (!DRIFTED) {
  // GDPR Art. 15/20: everything held about the signed-in user, as JSON
  app.get("/api/v1/me/export", auth, validate(z.object({}).strict(), "query"), async (req, res) => {
    const user = await pool.query("SELECT id, email, display_name, role, mfa_enabled, created_at, updated_at " +
      "FROM users WHERE id = $1", [req.user.id]);
    const customer = await pool.query("SELECT c.id, c.name, c.billing_email, c.country_code, c.plan, c.created_at " +
      "FROM customers c JOIN users u ON u.customer_id = c.id WHERE u.id = $1", [req.user.id]);
    res.set("Content-Disposition", 'attachment; filename="apexmediation-export.json"');
    res.json({ exported_at: new Date().toISOString(), user: user.rows[0] || null, customer: customer.rows[0] || null });
  });
}

app.get("/api/v1/apps", auth, validate(pageQuery, "query"), listRoute(
  "SELECT id, name, platform, bundle_id, status FROM apps WHERE id > $1 ORDER BY id LIMIT $2"));
app.get("/api/v1/ad-networks", auth, validate(pageQuery, "query"), listRoute(
  "SELECT id, code, name, adapter_version, bidding_supported FROM ad_networks WHERE id > $1 ORDER BY id LIMIT $2",
  { paginate: !DRIFTED }));
app.get("/api/v1/reports/revenue", auth, validate(pageQuery, "query"), listRoute(
  "SELECT id, day, revenue_usd, impressions FROM (SELECT row_number() OVER (ORDER BY day, app_id) AS id, day, " +
  "revenue_micros / 1e6 AS revenue_usd, impressions FROM revenue_daily) r " +
  "WHERE id > $1 ORDER BY id LIMIT $2"));

const appBody = z.object({
  publisherId: z.number().int().positive(),
  name: z.string().min(1).max(200),
  platform: z.enum(["ios", "android", "unity", "web"]),
  bundleId: z.string().min(3).max(200),
}).strict();
app.post("/api/v1/apps", auth, validate(appBody), async (req, res) => {
  const b = input(req);
  const { rows } = await pool.query("INSERT INTO apps (publisher_id, name, platform, bundle_id) VALUES ($1, $2, $3, $4) " +
    "RETURNING id, name, platform, bundle_id", [b.publisherId, b.name, b.platform, b.bundleId]);
  res.status(201).json(rows[0]);
});

const impressionsBody = z.object({
  network: z.string().regex(/^[a-z0-9_-]{2,40}$/),
  count: z.number().int().positive().max(1e6),
  revenueUsd: z.number().nonnegative().max(1e6),
}).strict();
app.post("/api/v1/events/impressions", auth, validate(impressionsBody), (req, res) => {
  const b = input(req);
  impressions.inc({ network: b.network }, b.count);
  revenueCents.inc(Math.round(b.revenueUsd * 100));
  res.status(202).json({ accepted: b.count });
});

const crashBody = z.object({ appId: z.number().int().positive(), count: z.number().int().positive().max(1e6) }).strict();
app.post("/api/v1/events/sdk-crashes", auth, validate(crashBody), (req, res) => {
  sdkCrashes.inc(input(req).count);
  res.status(202).json({ accepted: true });
});

const aiUsageBody = z.object({
  service: z.enum(["sales-automation", "growth-engine", "self-evolving-system"]),
  costUsd: z.number().nonnegative().max(1e4),
}).strict();
app.post("/api/v1/ai/usage", auth, validate(aiUsageBody), (req, res) => {
  const b = input(req);
  aiSpend.inc({ service: b.service }, b.costUsd);
  aiMonthly.inc({ service: b.service }, b.costUsd);
  res.status(202).json({ recorded: true });
});

// sandbox only, never proxied by nginx: `python -m sandbox up` and the self-tests start each run
// with a fresh rate-limit budget for 127.0.0.1
app.post("/internal/rate-limit/reset", (req, res) => {
  if (req.get("X-Forwarded-For") || !limiter) return res.status(404).end();
  limiter.resetKey(req.ip);
  limiter.resetKey("127.0.0.1");
  res.status(204).end();
});

app.use((req, res) => res.status(404).json({ error: "not_found" }));
app.use((err, req, res, next) => { // eslint-disable-line no-unused-vars
  res.status(500).json({ error: "internal_error", message: DRIFTED ? String(err.message) : undefined });
});

const port = Number(env.PORT || 28300);
app.listen(port, "127.0.0.1", () => {
  process.stdout.write(`apex api (${DRIFTED ? "drifted" : "compliant"}) listening on 127.0.0.1:${port}\n`);
});

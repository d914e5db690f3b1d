// The API's OpenAPI document. The drifted API's copy misses two live routes (9.1.1's failing direction).
"use strict";

const page = [
  { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
  { name: "cursor", in: "query", schema: { type: "string" } },
];
const bearer = [{ bearerAuth: [] }];
const json = (schema) => ({ content: { "application/json": { schema } } });
const list = (summary, item) => ({
  get: {
    summary, security: bearer, parameters: page,
    responses: { 200: { description: "one page", ...json({ type: "object", properties: {
      data: { type: "array", items: item }, limit: { type: "integer" }, next_cursor: { type: ["string", "null"] } } }) } },
  },
});
const write = (summary, required, properties, secured = true) => ({
  post: {
    summary, ...(secured ? { security: bearer } : {}),
    requestBody: { required: true, ...json({ type: "object", required, properties, additionalProperties: false }) },
    responses: { 200: { description: "done" }, 201: { description: "created" }, 400: { description: "validation error" } },
  },
});

function openapi({ drifted = false } = {}) {
  const paths = {
    "/health": { get: { summary: "liveness and dependencies", responses: { 200: { description: "healthy" } } } },
    "/metrics": { get: { summary: "Prometheus metrics", responses: { 200: { description: "text exposition" } } } },
    "/openapi.json": { get: { summary: "this document", responses: { 200: { description: "OpenAPI 3.1" } } } },
    "/api/v1/auth/signup": write("create an account (age 13 or over)", ["email", "password", "birthDate", "company"], {
      email: { type: "string", format: "email" }, password: { type: "string", minLength: 12 },
      birthDate: { type: "string", format: "date" }, company: { type: "string" } }, false),
    "/api/v1/auth/signin": write("sign in; a 7-day access token and a refresh token", ["email", "password"], {
      email: { type: "string", format: "email" }, password: { type: "string" } }, false),
    "/api/v1/auth/refresh": write("exchange a refresh token for a new access token", ["refreshToken"], {
      refreshToken: { type: "string" } }, false),
    "/api/v1/me": { get: { summary: "the signed-in user", security: bearer, responses: { 200: { description: "user" } } } },
    "/api/v1/me/export": { get: { summary: "GDPR export of the signed-in user's data", security: bearer,
      responses: { 200: { description: "everything held about the user" } } } },
    "/api/v1/apps": { ...list("apps", { type: "object" }), ...write("register an app", ["publisherId", "name", "platform",
      "bundleId"], { publisherId: { type: "integer" }, name: { type: "string" },
      platform: { enum: ["ios", "android", "unity", "web"] }, bundleId: { type: "string" } }) },
    "/api/v1/ad-networks": list("ad networks", { type: "object" }),
    "/api/v1/reports/revenue": list("daily revenue", { type: "object" }),
    "/api/v1/events/impressions": write("report impressions", ["network", "count", "revenueUsd"], {
      network: { type: "string" }, count: { type: "integer" }, revenueUsd: { type: "number" } }),
    "/api/v1/events/sdk-crashes": write("report SDK crashes", ["appId", "count"], {
      appId: { type: "integer" }, count: { type: "integer" } }),
    "/api/v1/ai/usage": write("record AI automation spend", ["service", "costUsd"], {
      service: { enum: ["sales-automation", "growth-engine", "self-evolving-system"] }, costUsd: { type: "number" } }),
  };
  if (drifted) {
    // the drifted API serves these two, but its document was not updated
    delete paths["/api/v1/reports/revenue"];
    delete paths["/api/v1/ai/usage"];
    // and these it does not serve at all
    delete paths["/api/v1/auth/refresh"];
    delete paths["/api/v1/me/export"];
  }
  return {
    openapi: "3.1.0",
    info: { title: "ApexMediation API", version: "1.4.0" },
    servers: [{ url: "/" }],
    components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
    paths,
  };
}

module.exports = { openapi };

"use client";
// The API routes the console calls (the OpenAPI check reads them back out of this bundle).
import { useEffect, useState } from "react";

const API = process.env.NEXT_PUBLIC_API_URL || "";

export default function Dashboard() {
  const [state, setState] = useState("signed out");
  useEffect(() => {
    const token = window.localStorage.getItem("apex_token");
    if (!token) return;
    const get = (path) => fetch(API + path, { headers: { Authorization: "Bearer " + token } }).then((r) => r.json());
    Promise.all([
      get("/api/v1/me"),
      get("/api/v1/apps?limit=20"),
      get("/api/v1/ad-networks?limit=20"),
      get("/api/v1/reports/revenue?limit=30"),
    ]).then(([me]) => setState("signed in as " + me.email), () => setState("API unreachable"));
  }, []);
  return <p id="dashboard">{state}</p>;
}

"use client";
import { useState } from "react";

const API = process.env.NEXT_PUBLIC_API_URL || "";

export default function SignIn() {
  const [message, setMessage] = useState("");
  async function submit(event) {
    event.preventDefault();
    const form = new FormData(event.target);
    const response = await fetch(API + "/api/v1/auth/signin", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ email: form.get("email"), password: form.get("password") }),
    });
    const body = await response.json();
    if (response.ok) window.localStorage.setItem("apex_token", body.accessToken);
    setMessage(response.ok ? "Signed in" : body.error || "Sign-in failed");
  }
  return (
    <form onSubmit={submit}>
      <h1>Sign in</h1>
      <label>Email <input name="email" type="email" required /></label>
      <label>Password <input name="password" type="password" required /></label>
      <button type="submit">Sign in</button>
      <p>{message}</p>
    </form>
  );
}

import Dashboard from "./dashboard";

export default function Home() {
  return (
    <section>
      <h1>ApexMediation Console</h1>
      <p><a href="/signin">Sign in</a></p>
      <Dashboard />
    </section>
  );
}

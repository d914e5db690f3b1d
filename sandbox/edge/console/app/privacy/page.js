export default function Privacy() {
  return (
    <article>
      <h1>Privacy policy</h1>
      <p>Last updated 2026-01-15. ApexMediation processes publisher account data and aggregated ad
        delivery statistics to operate the mediation service. You may export your data from the API
        (GET /api/v1/me/export) or ask for its deletion at privacy@apexmediation.example.</p>
    </article>
  );
}

// The console's own health endpoint (10.2.3 reads every service's).
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ status: "healthy", service: "console" }, { headers: { "Cache-Control": "no-store" } });
}

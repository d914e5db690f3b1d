// Every page shares this footer; the drifted console (APEX_CONSOLE_PRIVACY_LINK=off) drops the link.
export const dynamic = "force-dynamic";

export const metadata = { title: "ApexMediation Console" };

export default function RootLayout({ children }) {
  const privacy = process.env.APEX_CONSOLE_PRIVACY_LINK !== "off";
  return (
    <html lang="en">
      <body>
        <main>{children}</main>
        <footer>
          <span>© ApexMediation</span>
          {privacy ? <a href="/privacy">Privacy policy</a> : null}
        </footer>
      </body>
    </html>
  );
}

"""1.1.7 and 1.1.8 read from DNS and TLS: the records exist at every authoritative server and the
resolvers agree; every public name serves a valid certificate with time left. Queries and TLS
handshakes only."""

from __future__ import annotations

from pytest_apexready import Finding, check, edge, fail_check


@check("1.1.7")
def test_dns_records_propagated(dns, expect, evidence):
    records = expect["dns_records"]
    if not records:
        fail_check("expected DNS records", observed="expectations.dns_records is not set",
                   expected="name -> address or CNAME target", where="the profile's [expectations]")
    findings = []
    seen = {}
    for name in records:
        answers = {s: dns.ask(s, name) for s in dns.nameservers}
        for server, answer in answers.items():
            seen[f"{answer.name} @{server}"] = answer.describe()
            if answer.rcode != "NOERROR" or not answer.records:
                findings.append(Finding(f"{answer.name} at authoritative server", answer.describe(), "a record",
                                        f"{server} (authoritative)"))
        reference = next(iter(answers.values()))
        for server in dns.resolvers:
            got = dns.ask(server, name)
            seen[f"{got.name} @{server} (resolver)"] = got.describe()
            if sorted(got.values) != sorted(reference.values):
                findings.append(Finding(f"{got.name} at resolver", got.describe() if got.records else got.rcode,
                                        f"the authoritative answer {list(reference.values)}", f"{server} (resolver)"))
    evidence.record("answers", seen, source=dns.where)
    fail_check(findings=findings)


@check("1.1.8", part="tls")
def test_certificates_valid(tls, expect, evidence):
    fail_check(findings=edge.certificate_findings(tls, expect, evidence))

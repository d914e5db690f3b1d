"""The catalog and the checklist document cannot drift apart."""

from pathlib import Path

from pytest_apexready.catalog import load_catalog
from pytest_apexready.spec import parse_checklist

SPEC = Path(__file__).resolve().parent.parent / "spec" / "pre-deployment-checklist.md"


def test_catalog_matches_document_item_for_item():
    spec = parse_checklist(SPEC)
    catalog = load_catalog()
    doc = {i.id: (i.title, i.text) for i in spec.items()}
    cat = {i.id: (i.title, i.text) for i in catalog.items}
    assert sorted(doc.keys() - cat.keys()) == [], "items in the document, missing from the catalog"
    assert sorted(cat.keys() - doc.keys()) == [], "items in the catalog, not in the document"
    assert [k for k in doc if doc[k] != cat[k]] == [], "titles or texts differ"
    assert [i.id for i in spec.items()] == [i.id for i in catalog.items], "order differs"
    assert len(catalog.items) == 160


def test_sections_groups_and_sign_off_roles_match_document():
    spec = parse_checklist(SPEC)
    catalog = load_catalog()
    assert [(s.number, s.title, tuple(g.title for g in s.groups)) for s in spec.sections] == \
        [(s.number, s.title, s.groups) for s in catalog.sections]
    for s in spec.sections:
        if s.sign_off_role:
            assert catalog.section(s.number).sign_off_role == s.sign_off_role
    assert list(catalog.approval_roles) == spec.approval_roles


def test_every_item_is_well_formed():
    catalog = load_catalog()
    markers = {s.marker for s in catalog.sections}
    assert len(markers) == len(catalog.sections)
    for item in catalog.items:
        assert item.kind in ("automated", "attestation")
        assert item.severity in ("critical", "warning")
        assert item.marker in markers
        if item.kind == "automated":
            assert item.components, f"{item.id} is automated but names no component"
        else:
            assert not item.components


def test_parser_reads_details_and_unnumbered_section():
    spec = parse_checklist(SPEC)
    items = {i.id: i for i in spec.items()}
    assert items["2.1.3"].title == "Users"
    assert any("schema_migrations" in d for d in items["2.1.1"].details)
    assert items["11.1.1"].title.startswith("Hour 1")

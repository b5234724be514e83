"""The documents' links hold: every `](#anchor)` in README.md and docs/*.md names a
heading of its file, every relative link names a file of the repository (and, with a
`#anchor`, a heading of that file). Anchors are made from headings the way GitHub makes
them. The README's configuration table against `msgrelay --help` is checked by
test_cli.py, the man page's flags by test_install.py."""

import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)\)")


def documents():
    docs = [os.path.join(REPO, "README.md")]
    docs += sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
    return docs


def prose(text):
    """The text without fenced code blocks and inline code spans (links there are
    examples, not links)."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)
    return re.sub(r"(`+).*?\1", "", text, flags=re.S)


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def anchors(path):
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)
    seen = {}
    out = set()
    for m in re.finditer(r"^#{1,6} +(.+?) *#*$", text, re.M):
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else "%s-%d" % (base, n))
    return out


def links(path):
    text = prose(open(path, encoding="utf-8").read())
    return [m.group(1) for m in LINK.finditer(text)]


def test_the_slug_is_githubs():
    assert slug("Access: tokens and HTTPS") == "access-tokens-and-https"
    assert slug("The C SDK (libmsgrelay)") == "the-c-sdk-libmsgrelay"
    assert slug("Kafka consumers: apply each record once") == \
        "kafka-consumers-apply-each-record-once"
    assert slug("Destination health: bursts, waiting, matching") == \
        "destination-health-bursts-waiting-matching"


def test_the_checker_finds_a_broken_link(tmp_path):
    doc = tmp_path / "x.md"
    doc.write_text("# Top\n\nsee [here](#nowhere), [there](#top), [f](missing.md)\n"
                   "```\n[not a link](#code)\n```\n`[span](#span)`\n")
    assert links(str(doc)) == ["#nowhere", "#top", "missing.md"]
    assert anchors(str(doc)) == {"top"}


@pytest.mark.parametrize("doc", documents(), ids=lambda p: os.path.relpath(p, REPO))
def test_every_internal_link_resolves(doc):
    broken = []
    for target in links(doc):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):   # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
        if not os.path.exists(dest):
            broken.append("%s: no file %s" % (target, os.path.relpath(dest, REPO)))
            continue
        if anchor and dest.endswith(".md") and anchor not in anchors(dest):
            broken.append("%s: no heading with anchor #%s in %s"
                          % (target, anchor, os.path.relpath(dest, REPO)))
    assert not broken, "\n".join(broken)


def test_every_readme_section_is_in_its_contents():
    """The contents at the README's top lists every second-level section, in order."""
    text = open(os.path.join(REPO, "README.md"), encoding="utf-8").read()
    body = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.M | re.S)
    sections = [slug(h) for h in re.findall(r"^## +(.+?) *$", body, re.M)]
    sections = [s for s in sections if s != "contents"]
    contents = re.search(r"^## Contents\n(.*?)^## ", body, re.M | re.S)
    assert contents, "the README has a Contents section"
    listed = re.findall(r"\]\(#([^)]+)\)", contents.group(1))
    assert listed == sections, (
        "README.md's Contents must link every '## ' section in order: add a line "
        "'- [Title](#anchor)' for each new section; missing %s, not sections %s"
        % (sorted(set(sections) - set(listed)), sorted(set(listed) - set(sections))))

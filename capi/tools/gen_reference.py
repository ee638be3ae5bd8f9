#!/usr/bin/env python3
"""Generates the generated parts of docs/c-api.md from the sources, so they cannot go stale.

  * The API reference, from the doc comments of capi/include/polyrpc/*.h (the header is the
    documentation: every symbol's comment there is what the reference shows).
  * The example programs, from capi/examples/*.c (they are compiled and run by CTest).

Generated regions sit between marker comments in the Markdown:
  <!-- BEGIN REFERENCE --> ... <!-- END REFERENCE -->
  <!-- BEGIN EXAMPLE capi/examples/client.c --> ... <!-- END EXAMPLE -->

It also checks the doc comments themselves (STYLE.md, "Our C ABI": the header is the
documentation): every public declaration has a comment of its own, and every function's comment
has an "Errors:" line and then a "Since X.Y" that agrees with capi/symbols-in-versions.

Usage: gen_reference.py [--check] [--root DIR]
  (no flag)  rewrites docs/c-api.md in place
  --check    exits 1 (naming the region, or each declaration and what its comment lacks) if
             docs/c-api.md is not up to date or a doc comment is incomplete
"""

import argparse
import os
import re
import sys

HEADERS = ["polyrpc.h", "common.h", "cq.h", "credentials.h", "channel.h", "call.h", "server.h",
           "dynamic.h", "observability.h"]


def strip_comment(text):
    """The text of a /* ... */ comment, without the stars, as Markdown paragraphs."""
    body = text.strip()
    body = re.sub(r"^/\*+", "", body)
    body = re.sub(r"\*+/$", "", body)
    lines = []
    for line in body.split("\n"):
        line = re.sub(r"^\s*\*( |$)", "", line.rstrip())
        lines.append(line.strip() if not line.startswith("  ") else line)
    out = "\n".join(lines).strip()
    # Bullets in headers are written " - text" / "  - text": keep them as Markdown lists.
    return re.sub(r"^\s*-\s", "- ", out, flags=re.M)


def declaration_name(decl):
    m = re.match(r"#define\s+(\w+)", decl)
    if m:
        return m.group(1)
    m = re.search(r"\b(polyrpc_\w+)\s*\(", decl)
    if decl.startswith("POLYRPC_API") and m:
        return m.group(1) + "()"
    if decl.startswith("typedef"):
        m = re.search(r"\(\*\s*(\w+)\)", decl)  # function pointer typedef
        if m:
            return m.group(1)
        m = re.search(r"(\w+)\s*;\s*$", decl)
        if m:
            return m.group(1)
    return decl.split("\n")[0]


def parse_header(path):
    """Yields ('intro', text), ('section', title, text) and ('decl', name, code, doc, own)
    items; own: the declaration has a comment of its own (above it, or at the end of its line)."""
    src = open(path, encoding="utf-8").read()
    items = []
    i = 0
    pending = None  # last comment, not yet attached
    first_comment = True
    n = len(src)
    while i < n:
        if src.startswith("/*", i):
            j = src.index("*/", i) + 2
            comment = src[i:j]
            i = j
            text = strip_comment(comment)
            if first_comment:
                # "polyrpc/x.h - what it is. ..." : the header's introduction.
                items.append(("intro", re.sub(r"^polyrpc/?[\w.]*\s+-\s+", "", text)))
                first_comment = False
                continue
            m = re.match(r"^-{2,}\s*(.*?)\s*-{2,}\s*(.*)$", text, re.S)
            if m:
                items.append(("section", m.group(1), m.group(2).strip()))
                pending = None
                continue
            pending = text
            continue
        # A line of code.
        j = src.find("\n", i)
        if j < 0:
            j = n
        line = src[i:j]
        stripped = line.strip()
        if stripped.startswith("POLYRPC_API") or stripped.startswith("typedef") or (
                stripped.startswith("#define POLYRPC_") and not stripped.endswith("_H")
                and "POLYRPC_API" not in stripped):
            # Gather the whole declaration and a comment that trails it on its last line.
            trailing = ""
            shown_trailing = False  # the trailing comment is part of the code shown
            if stripped.startswith("#define"):
                end = j
                m = re.match(r"(#define.*?)\s*(/\*.*\*/)?\s*$", stripped)
                code = m.group(1)
                if m.group(2):
                    # A macro's comment at the end of its line stays there, as for enum values;
                    # the one above it (e.g. of its group) is the text.
                    trailing = strip_comment(m.group(2))
                    code = m.group(1) + " " + m.group(2)
                    shown_trailing = True
            else:
                if stripped.startswith("typedef") and "{" in stripped:
                    end = src.index(";", src.index("}", i)) + 1
                else:
                    end = src.index(";", i) + 1
                code = src[i:end]
                k = src.find("\n", end)
                rest = src[end:k if k >= 0 else n].strip()
                if rest.startswith("/*") and rest.endswith("*/"):
                    trailing = strip_comment(rest)
                    end = k if k >= 0 else n
            name = declaration_name(code.strip())
            doc = pending or ("" if shown_trailing else trailing)
            items.append(("decl", name, code.strip(), doc, bool(pending or trailing)))
            pending = None
            i = end
            continue
        if stripped and not stripped.startswith("#") and stripped not in ("}", "extern \"C\" {"):
            pending = None
        i = j + 1
    return items


# Headers (or single declarations, by the name the reference gives them) whose comments the
# --check does not hold to the rules yet, each with the reason. Remove an entry once it complies.
DOC_RULES_EXEMPT = {
}


def read_symbol_versions(root):
    """{symbol: version added} from capi/symbols-in-versions."""
    versions = {}
    path = os.path.join(root, "capi", "symbols-in-versions")
    for line in open(path, encoding="utf-8"):
        fields = line.split()
        if fields and not fields[0].startswith("#") and len(fields) >= 2:
            versions[fields[0]] = fields[1]
    return versions


def check_doc_comments(root):
    """Problems with the doc comments of the public headers, one line each: every declaration
    needs a comment of its own; a function's also an "Errors:" line (every error it can return,
    or "none") followed by "Since X.Y", the version capi/symbols-in-versions gives it."""
    include_dir = os.path.join(root, "capi", "include")
    versions = read_symbol_versions(root)
    problems = []
    for h in HEADERS:
        if h in DOC_RULES_EXEMPT:
            continue
        for item in parse_header(os.path.join(include_dir, "polyrpc", h)):
            if item[0] != "decl":
                continue
            _, name, code, doc, own = item
            if name in DOC_RULES_EXEMPT:
                continue
            where = "capi/include/polyrpc/%s: %s" % (h, name)
            if not own:
                problems.append("%s has no doc comment of its own" % where)
                continue
            if not name.endswith("()"):
                continue  # types and macros: the comment is enough
            errors = doc.find("Errors:")
            since = re.search(r"\bSince (\d+\.\d+)", doc)
            if errors < 0:
                problems.append('%s: the comment has no "Errors:" line' % where)
            if not since:
                problems.append('%s: the comment has no "Since X.Y"' % where)
            elif errors >= 0 and since.start() < errors:
                problems.append('%s: "Since" must come after "Errors:"' % where)
            symbol = name[:-2]
            if since and symbol in versions and since.group(1) != versions[symbol]:
                problems.append("%s: the comment says Since %s, capi/symbols-in-versions %s"
                                % (where, since.group(1), versions[symbol]))
    return problems


def render_reference(include_dir):
    out = []
    out.append("<!-- Generated by capi/tools/gen_reference.py from capi/include/polyrpc/*.h; "
               "edit the headers, then run the script. -->\n")
    for h in HEADERS:
        path = os.path.join(include_dir, "polyrpc", h)
        items = parse_header(path)
        out.append("### polyrpc/%s\n" % h)
        for item in items:
            if item[0] == "intro":
                out.append(item[1] + "\n")
            elif item[0] == "section":
                out.append("#### %s\n" % item[1])
                if item[2]:
                    out.append(item[2] + "\n")
            else:
                _, name, code, doc, _ = item
                out.append("##### `%s`\n" % name)
                out.append("```c\n%s\n```\n" % code)
                if doc:
                    out.append(doc + "\n")
    return "\n".join(out)


def replace_region(text, begin_re, end_marker, render):
    """Replaces every region opened by begin_re (a regex with the opening marker) up to
    end_marker with render(match) ."""
    result = []
    pos = 0
    for m in re.finditer(begin_re, text):
        if m.start() < pos:
            continue
        end = text.find(end_marker, m.end())
        if end < 0:
            sys.exit("unterminated region at %r" % m.group(0))
        result.append(text[pos:m.end()])
        result.append("\n" + render(m) + "\n")
        pos = end
    result.append(text[pos:])
    return "".join(result)


def generate(root, doc_text):
    include_dir = os.path.join(root, "capi", "include")

    def example(m):
        rel = m.group(1)
        code = open(os.path.join(root, rel), encoding="utf-8").read().rstrip("\n")
        return "```c\n%s\n```" % code

    text = replace_region(doc_text, r"<!-- BEGIN REFERENCE -->", "<!-- END REFERENCE -->",
                          lambda m: render_reference(include_dir))
    text = replace_region(text, r"<!-- BEGIN EXAMPLE ([\w/.]+) -->", "<!-- END EXAMPLE -->",
                          example)
    return text


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    args = ap.parse_args()
    doc_path = os.path.join(args.root, "docs", "c-api.md")
    current = open(doc_path, encoding="utf-8").read()
    wanted = generate(args.root, current)
    if args.check:
        problems = check_doc_comments(args.root)
        for p in problems:
            sys.stderr.write(p + "\n")
        if problems:
            sys.stderr.write("%d incomplete doc comment(s): see STYLE.md, \"Our C ABI\"\n"
                             % len(problems))
        if current != wanted:
            sys.stderr.write("docs/c-api.md is stale: run capi/tools/gen_reference.py\n")
            import difflib
            diff = difflib.unified_diff(current.splitlines(), wanted.splitlines(), "docs/c-api.md",
                                        "generated", lineterm="", n=1)
            for k, line in enumerate(diff):
                if k > 40:
                    break
                sys.stderr.write(line + "\n")
            return 1
        if problems:
            return 1
        print("ok: docs/c-api.md is up to date, every doc comment complete")
        return 0
    if current != wanted:
        with open(doc_path, "w", encoding="utf-8") as f:
            f.write(wanted)
        print("updated", doc_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

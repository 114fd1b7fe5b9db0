#!/usr/bin/env python3
"""Generate lib/tokenizer/unicode_tables.cpp from the Unicode Character Database
files that Debian's `unicode-data` package installs in /usr/share/unicode.

usage: scripts/gen_unicode_tables.py [--max-age VERSION] [UCD_DIR] [OUT_FILE]

UCD_DIR defaults to /usr/share/unicode, OUT_FILE to
lib/tokenizer/unicode_tables.cpp next to this script. The output depends only on
the input files and options (deterministic); the generated source is committed.

--max-age (default 14.0): code points assigned in a later Unicode version
(DerivedAge.txt) are treated as unassigned. The reference tokenizer (Hugging
Face `tokenizers`, whose split regex runs on Oniguruma 6.9.8) knows Unicode
14.0, so e.g. a CJK Extension H ideograph (new in 15.0) is not a letter to it;
with the cutoff our tables agree with it code point for code point (checked for
\p{L}, \p{N} and \s over all of U+0000..U+10FFFF). Use --max-age none to keep
everything the data files define.

What the tokenizer needs, per code point:
  - flags: letter (general category L*), number (N*), whitespace (the
    White_Space property, which is what Oniguruma's \\s matches in UTF-8 mode),
    and "nfc_check" (NFC_Quick_Check is No or Maybe, or the canonical combining
    class is non-zero: only text holding such a code point can change under NFC);
  - the canonical combining class;
  - canonical decompositions (one level, as listed in UnicodeData.txt) with a
    flag for Full_Composition_Exclusion, from which NFC composition pairs are
    derived at run time.

Code points that share flags and combining class are merged into ranges
(first, last, flags, ccc); ranges of all-zero properties are left out.
"""
import os
import sys

FLAG_LETTER = 1
FLAG_NUMBER = 2
FLAG_WHITESPACE = 4
FLAG_NFC_CHECK = 8

MAX_CP = 0x10FFFF


def data_lines(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                yield [field.strip() for field in line.split(";")]


def cp_range(field):
    if ".." in field:
        a, b = field.split("..")
        return range(int(a, 16), int(b, 16) + 1)
    return range(int(field, 16), int(field, 16) + 1)


def version_of(path):
    with open(path, encoding="utf-8") as f:
        first = f.readline().strip()  # e.g. "# PropList-15.0.0.txt"
    name = first.lstrip("# ").rsplit(".txt", 1)[0]
    return name.split("-", 1)[1] if "-" in name else "unknown"


def load_unicode_data(ucd):
    """cp -> (general category, ccc, decomposition field)."""
    out = {}
    pending_first = None
    for f in data_lines(os.path.join(ucd, "UnicodeData.txt")):
        cp = int(f[0], 16)
        name, gc, ccc, decomp = f[1], f[2], int(f[3]), f[5]
        if name.endswith(", First>"):
            pending_first = cp
            continue
        if name.endswith(", Last>"):
            for c in range(pending_first, cp + 1):
                out[c] = (gc, ccc, "")
            pending_first = None
            continue
        out[cp] = (gc, ccc, decomp)
    return out


def parse_version(v):
    return tuple(int(x) for x in v.split("."))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = sys.argv[1:]
    max_age = "14.0"
    if args[:1] == ["--max-age"]:
        if len(args) < 2:
            sys.exit("--max-age needs a value")
        max_age = args[1]
        args = args[2:]
    ucd = args[0] if len(args) > 0 else "/usr/share/unicode"
    out_path = args[1] if len(args) > 1 else os.path.join(here, "..", "lib", "tokenizer", "unicode_tables.cpp")

    ud = load_unicode_data(ucd)
    if max_age != "none":
        cutoff = parse_version(max_age)
        for f in data_lines(os.path.join(ucd, "DerivedAge.txt")):
            if parse_version(f[1]) > cutoff:
                for cp in cp_range(f[0]):
                    ud.pop(cp, None)
    whitespace = set()
    for f in data_lines(os.path.join(ucd, "PropList.txt")):
        if f[1] == "White_Space":
            whitespace.update(cp_range(f[0]))
    nfc_qc_not_yes = set()
    full_comp_excl = set()
    for f in data_lines(os.path.join(ucd, "DerivedNormalizationProps.txt")):
        if f[1] == "NFC_QC" and f[2] in ("N", "M"):
            nfc_qc_not_yes.update(c for c in cp_range(f[0]) if c in ud)
        elif f[1] == "Full_Composition_Exclusion":
            full_comp_excl.update(cp_range(f[0]))
    version = version_of(os.path.join(ucd, "PropList.txt"))

    def props(cp):
        gc, ccc, _ = ud.get(cp, ("Cn", 0, ""))
        flags = 0
        if gc[0] == "L":
            flags |= FLAG_LETTER
        if gc[0] == "N":
            flags |= FLAG_NUMBER
        if cp in whitespace:
            flags |= FLAG_WHITESPACE
        if cp in nfc_qc_not_yes or ccc != 0:
            flags |= FLAG_NFC_CHECK
        return flags, ccc

    ranges = []  # [first, last, flags, ccc]
    prev = None
    for cp in range(MAX_CP + 1):
        p = props(cp)
        if p == prev:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp, p[0], p[1]])
            prev = p
    ranges = [r for r in ranges if r[2] or r[3]]

    decomps = []  # (cp, first, second, excluded)
    for cp in sorted(ud):
        d = ud[cp][2]
        if not d or d.startswith("<"):
            continue  # none, or a compatibility decomposition
        parts = [int(x, 16) for x in d.split()]
        if len(parts) not in (1, 2):
            sys.exit(f"U+{cp:04X}: canonical decomposition of {len(parts)} code points")
        first = parts[0]
        second = parts[1] if len(parts) == 2 else 0
        decomps.append((cp, first, second, 1 if cp in full_comp_excl else 0))

    lines = []
    w = lines.append
    w("// Generated by scripts/gen_unicode_tables.py, do not edit.")
    w(f"// Source: Unicode Character Database {version} (Debian unicode-data: UnicodeData.txt,")
    w("// PropList.txt, DerivedNormalizationProps.txt, DerivedAge.txt); code points assigned")
    w(f"// after Unicode {max_age} are treated as unassigned (see the script).")
    w('#include "tokenizer/unicode_tables.h"')
    w("")
    w("namespace nextlm::tokenizer::ucd {")
    w("")
    w(f'const char kUnicodeVersion[] = "{version}";')
    w(f'const char kUnicodeMaxAge[] = "{max_age}";')
    w("")
    w("// {first, last, flags, canonical combining class}")
    w(f"const PropertyRange kPropertyRanges[{len(ranges)}] = {{")
    items = [f"{{0x{a:X},0x{b:X},{fl},{ccc}}}," for a, b, fl, ccc in ranges]
    emit_items(w, items, 5)
    w("};")
    w(f"const size_t kPropertyRangeCount = {len(ranges)};")
    w("")
    w("// {code point, first, second (0: singleton), full composition exclusion}")
    w(f"const Decomposition kDecompositions[{len(decomps)}] = {{")
    items = [f"{{0x{cp:X},0x{a:X},0x{b:X},{x}}}," for cp, a, b, x in decomps]
    emit_items(w, items, 4)
    w("};")
    w(f"const size_t kDecompositionCount = {len(decomps)};")
    w("")
    w("}  // namespace nextlm::tokenizer::ucd")
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{out_path}: {len(ranges)} ranges, {len(decomps)} decompositions, Unicode {version}")


def emit_items(w, items, per_line):
    for i in range(0, len(items), per_line):
        w("    " + "".join(items[i:i + per_line]))


if __name__ == "__main__":
    main()

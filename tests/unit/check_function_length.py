#!/usr/bin/env python3
"""No function of the library or the tools is longer than LIMIT lines.

A function's length runs from the first line of its signature to its closing
brace. The scan matches braces on the source with comments, string and
character literals and preprocessor lines blanked out: a '{' at namespace or
class scope opens a function body when the text before it (back to the last
';', '{' or '}') is a signature, i.e. has a parameter list and no '=' outside
parentheses; a constructor's braced member initialisers are skipped. Lambdas
and local classes count toward the function that holds them.

Usage: check_function_length.py SOURCE_DIR             (exit 0 when all fit)
       check_function_length.py --list SOURCE_DIR      (every function over 80 lines)
       check_function_length.py --self-test SOURCE_DIR (the check fails on a long function)
"""
import os
import re
import sys
import tempfile

LIMIT = 120
FOLDERS = ("src", "base", "allocator", "interpose", "policy", "profiler", "include")
SOURCE_EXT = (".h", ".cc", ".c")

SCOPE_KEYWORD = re.compile(r"\b(namespace|class|struct|union)\b|^extern\s+\"C\"")
NOT_FUNCTION = re.compile(r"^(enum|if|for|while|switch|do|else|try|catch|return)\b")
ACCESS = re.compile(r"^\s*(public|private|protected)\s*:(?!:)")
CTOR_INIT = re.compile(r"\)\s*(noexcept\s*)?:(?!:)")
SIGNATURE_END = re.compile(
    r"\)\s*(const|noexcept(\([^)]*\))?|override|final|volatile|&&|&|->\s*[\w:<>,\s*&]+|\s)*$")


def blank(text):
    """Comments, literals and preprocessor lines replaced by spaces (newlines kept)."""
    out = []
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if line_start and c == "#" or (line_start and c in " \t" and
                                      text[i:].lstrip(" \t").startswith("#")):
            # A preprocessor line, with its continuations.
            j = i
            while j < n:
                k = text.find("\n", j)
                if k < 0:
                    k = n
                if k > 0 and text[k - 1] == "\\":
                    j = k + 1
                    continue
                break
            out.append(re.sub(r"[^\n]", " ", text[i:k]))
            i = k
            continue
        if text.startswith("//", i):
            k = text.find("\n", i)
            k = n if k < 0 else k
            out.append(" " * (k - i))
            i = k
            continue
        if text.startswith("/*", i):
            k = text.find("*/", i + 2)
            k = n if k < 0 else k + 2
            out.append(re.sub(r"[^\n]", " ", text[i:k]))
            i = k
            continue
        m = re.match(r'R"([^(\s]*)\(', text[i:i + 20])
        if m and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            end = ")" + m.group(1) + '"'
            k = text.find(end, i + len(m.group(0)))
            k = n if k < 0 else k + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:k]))
            i = k
            continue
        if c in "\"'":
            if c == "'" and i > 0 and text[i - 1].isalnum():
                out.append(" ")  # a digit separator (1'000'000)
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (min(j + 1, n) - i))
            i = j + 1
            continue
        out.append(c)
        line_start = c == "\n"
        i += 1
    return "".join(out)


def match_brace(code, i):
    """Index of the '}' closing the '{' at i."""
    depth = 0
    for j in range(i, len(code)):
        if code[j] == "{":
            depth += 1
        elif code[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(code) - 1


def eq_outside_parens(header):
    depth = 0
    for k, c in enumerate(header):
        if c in "(<[":
            depth += 1
        elif c in ")>]":
            depth -= 1
        elif c == "=" and depth <= 0:
            prev = header[k - 1] if k > 0 else ""
            nxt = header[k + 1] if k + 1 < len(header) else ""
            if prev not in "=!<>" and nxt != "=" and not header[:k].rstrip().endswith("operator"):
                return True
    return False


def functions(code):
    """(name, first line, last line) of each function body in blanked code."""
    found = []
    lines_before = [0] * (len(code) + 1)
    count = 0
    for k, c in enumerate(code):
        lines_before[k] = count
        if c == "\n":
            count += 1
    lines_before[len(code)] = count

    def scan(lo, hi):
        start = lo  # where the current header starts
        i = lo
        while i < hi:
            c = code[i]
            if c in ";}":
                start = i + 1
            elif c == "{":
                header = ACCESS.sub("", code[start:i]).strip()
                while ACCESS.match(header):
                    header = ACCESS.sub("", header, count=1).strip()
                end = match_brace(code, i)
                if SCOPE_KEYWORD.search(header) and "(" not in header.split("{")[0]:
                    scan(i + 1, end)  # namespace, class: its members are scanned
                    start = end + 1
                elif (CTOR_INIT.search(header) and header and
                      (header[-1].isalnum() or header[-1] in "_>")):
                    pass  # a braced member initialiser: the header goes on
                elif ("(" in header and not NOT_FUNCTION.match(header) and
                      not eq_outside_parens(header) and
                      (SIGNATURE_END.search(header) or CTOR_INIT.search(header))):
                    first = start + (len(code[start:i]) - len(code[start:i].lstrip()))
                    name = re.sub(r"\s+", " ", header.split("(")[0]).strip().split(" ")[-1]
                    found.append((name, lines_before[first] + 1, lines_before[end] + 1))
                    start = end + 1
                else:
                    start = end + 1  # an initialiser, an enum
                i = end
            i += 1

    scan(0, len(code))
    return found


def sources(root):
    for folder in FOLDERS:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, folder)):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("build"))
            for name in sorted(filenames):
                if name.endswith(SOURCE_EXT):
                    yield os.path.join(dirpath, name)


def check(root, limit, show_from):
    long_ones = []
    nfun = 0
    for path in sources(root):
        with open(path, encoding="utf-8", errors="replace") as f:
            code = blank(f.read())
        for name, first, last in functions(code):
            nfun += 1
            length = last - first + 1
            if length > show_from:
                long_ones.append((length, os.path.relpath(path, root), first, name))
    return nfun, sorted(long_ones, reverse=True)


def self_test(root):
    """The check finds a 130-line function (and a constructor's), not a 100-line one."""
    body = "\n".join(f"  x += {k};" for k in range(126))
    short = "\n".join(f"  y += {k};" for k in range(96))
    ctor = "\n".join(f"    z_ += {k};" for k in range(126))
    text = ("// A test file.\nnamespace a {\nnamespace {\n"
            "int long_one(int x) {\n  const char* s = \"}\";\n" + body + "\n  return x;\n}\n"
            "}  // namespace\n"
            "int short_one(int y) {\n" + short + "\n  return y;\n}\n"
            "struct S {\n  S(int z) : z_{z}, w_(z) {\n" + ctor + "\n  }\n  int z_;\n  int w_;\n};\n"
            "const int kTable[] = {\n" + ",\n".join("1" for _ in range(200)) + "};\n"
            "}  // namespace a\n")
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "src"))
        with open(os.path.join(tmp, "src", "long.cc"), "w") as f:
            f.write(text)
        nfun, long_ones = check(tmp, LIMIT, LIMIT)
    names = sorted(name for _, _, _, name in long_ones)
    if nfun != 3 or names != ["S", "long_one"]:
        print(f"FAIL: self-test expected 3 functions with S and long_one too long; "
              f"got {nfun} functions, too long: {names}")
        return 1
    _, real = check(root, LIMIT, 0)
    if not real:
        print("FAIL: self-test found no function at all in the real tree")
        return 1
    print(f"self-test: a {long_ones[0][0]}-line function and a constructor are reported, "
          f"a 100-line one and a 200-line table are not")
    return 0


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--self-test":
        return self_test(args[1])
    if len(args) == 2 and args[0] == "--list":
        nfun, long_ones = check(args[1], LIMIT, 80)
        for length, path, line, name in long_ones:
            print(f"{length:5d} {path}:{line} {name}")
        return 0
    if len(args) != 1:
        print(__doc__)
        return 2
    nfun, long_ones = check(args[0], LIMIT, LIMIT)
    for length, path, line, name in long_ones:
        print(f"{path}:{line}: {name} is {length} lines (limit {LIMIT}): split it")
    if long_ones:
        print(f"{len(long_ones)} of {nfun} functions are over {LIMIT} lines")
        return 1
    print(f"{nfun} functions, none over {LIMIT} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Compiles every C++ snippet in README.md and docs/*.md, so the docs cannot rot.

A ```cpp fence is, by default, statements: it is compiled as the body of a function
that has `uv_loop_t* loop`, with <childproc/childproc.hpp>, `namespace cp = childproc`
and the std chrono/string literals in scope. A fence with `int main(` is a whole
program and compiled as it stands. An HTML comment on the line before a fence changes
that:
  <!-- snippet: scope -->     namespace-scope code (functions, globals)
  <!-- snippet: continues --> statements that go on from the fence before (its names)
A comment in a snippet that says "prints" must say exactly what, as `// prints: TEXT`
(\n for a newline);
such a snippet is built and run (the loop runs after it) and its output must hold TEXT.
Diagnostics point at the markdown file and line (#line).

usage: snippets.py CXX SOURCE_ROOT INCLUDE_DIR LIB_DIR [compiler args...]
"""
import os
import re
import subprocess
import sys
import tempfile

PRELUDE = """#include <childproc/childproc.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
namespace cp = childproc;
using namespace std::chrono_literals;
using namespace std::string_literals;
"""

# Statements in docs often name a variable only to show the call's result.
FLAGS = ["-std=c++20", "-Wall", "-Wextra", "-Werror", "-Wno-unused-variable",
         "-Wno-unused-parameter", "-Wno-unused-but-set-variable", "-Wno-unused-lambda-capture"]


def fences(path):
    """(first line number, mode, text) for each ```cpp fence of `path`."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```cpp":
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith("```"):
                j += 1
            text = "\n".join(lines[i + 1:j])
            mark = re.match(r"\s*<!--\s*snippet:\s*(\w+)\s*-->", lines[i - 1]) if i else None
            if mark:
                mode = mark.group(1)
                if mode not in ("scope", "continues"):
                    sys.exit(f"{path}:{i}: unknown snippet mode {mode!r}")
            else:
                mode = "program" if re.search(r"\bint main\s*\(", text) else "body"
            out.append((i + 2, mode, text))
            i = j
        i += 1
    return out


def prints_claims(path, line, text):
    """The TEXTs of `// prints: TEXT`; a comment that says "prints" otherwise fails."""
    claims, bad = [], []
    for k, l in enumerate(text.split("\n")):
        c = l.find("//")
        if c < 0 or not re.search(r"\bprints\b", l[c:]):
            continue
        m = re.search(r"//\s*prints:\s*(.+?)\s*$", l)
        (claims.append(m.group(1).replace("\\n", "\n")) if m else bad.append(f"{path}:{line + k}: say what it "
                                                         f"prints as `// prints: TEXT`"))
    return claims, bad


def main():
    cxx, root, inc, libdir, *extra = sys.argv[1:]
    inc, libdir = os.path.abspath(inc), os.path.abspath(libdir)
    docs = [os.path.join(root, "README.md")] + sorted(
        os.path.join(root, "docs", f) for f in os.listdir(os.path.join(root, "docs"))
        if f.endswith(".md"))
    tmp = tempfile.mkdtemp()
    units = []     # (name, source, run: list of claims or None)
    problems = []
    count = 0
    for doc in docs:
        rel = os.path.relpath(doc, root)
        groups = []  # fragments: [first line, mode, [(line, text)...]]
        for line, mode, text in fences(doc):
            count += 1
            claims, bad = prints_claims(rel, line, text)
            problems += bad
            if mode == "program":
                units.append((f"{rel}:{line}", f'#line {line} "{rel}"\n{text}\n', claims))
            elif mode == "continues" and groups:
                groups[-1][2].append((line, text))
                groups[-1][3] += claims
            else:
                groups.append([line, mode, [(line, text)], claims])
        if not groups:
            continue
        # Each fragment on its own (namespace, function): names never leak between them.
        src = [PRELUDE]
        for n, (line, mode, parts, _) in enumerate(groups):
            src.append(f"namespace snippet_{n} {{")
            if mode != "scope":
                # The inner block lets a snippet declare its own `loop`.
                src.append("[[maybe_unused]] void run(uv_loop_t* loop) { {")
            for l, t in parts:
                src.append(f'#line {l} "{rel}"\n{t}')
            src.append("}" if mode == "scope" else "} }\n}")
        units.append((rel, "\n".join(src) + "\n", None))
        # Fragments that claim output are built as programs and run.
        for line, mode, parts, claims in groups:
            if claims and mode != "scope":
                body = "\n".join(f'#line {l} "{rel}"\n{t}' for l, t in parts)
                prog = (PRELUDE + "int main() {\n  uv_loop_t* loop = uv_default_loop();\n" + body +
                        "\n  uv_run(loop, UV_RUN_DEFAULT);\n  std::fflush(nullptr);\n  return 0;\n}\n")
                units.append((f"{rel}:{line}", prog, claims))
            elif claims:
                problems.append(f"{rel}:{line}: a scope snippet cannot be run to check what it prints")

    failed = 0
    for n, (name, source, claims) in enumerate(units):
        path = os.path.join(tmp, f"u{n}.cpp")
        open(path, "w").write(source)
        if claims:
            exe = os.path.join(tmp, f"u{n}")
            cmd = [cxx, *FLAGS, *extra, f"-I{inc}", path, "-o", exe, f"-L{libdir}",
                   f"-Wl,-rpath,{libdir}", "-lchildproc", "-luv"]
        else:
            cmd = [cxx, *FLAGS, *extra, f"-I{inc}", "-fsyntax-only", path]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            failed += 1
            print(f"FAIL {name}: does not compile\n{r.stderr}")
            continue
        if claims:
            try:
                run = subprocess.run([exe], capture_output=True, text=True, timeout=60,
                                     cwd=tmp)
            except subprocess.TimeoutExpired:
                failed += 1
                print(f"FAIL {name}: did not finish in 60 s")
                continue
            for c in claims:
                if c not in run.stdout + run.stderr:
                    failed += 1
                    print(f"FAIL {name}: says it prints {c!r}; it printed:\n{run.stdout}{run.stderr}")
        print(f"ok   {name}" + (f" (ran: {len(claims)} output claim(s))" if claims else ""))
    for p in problems:
        print("FAIL", p)
    print(f"{count} snippets in {len(units)} compilations: {failed + len(problems)} failed")
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())

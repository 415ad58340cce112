#!/usr/bin/env python3
"""Writes the fuzz seed corpora: test/fuzz/corpus/json/ from the tables of
test/test_json.cpp, test/fuzz/corpus/framing/ from the hand-written streams below.

One file per seed, named by the SHA-1 of its content as libFuzzer names its own, so a
re-run adds nothing twice. The tables are C++ (string concatenations, bytes({...}),
std::string(n, c)), so rather than parse them this copies them out of test_json.cpp
into a small program and lets the compiler evaluate them.

  test/fuzz/seed_corpus.py [--clean]     (CXX picks the compiler; default c++)
"""
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEST_JSON = os.path.join(ROOT, "test", "test_json.cpp")

# Tables that hold seeds (internal_cases() holds InternalCase, handled apart).
TABLES = ["valid_scalars", "valid_structures", "invalid_texts", "newline_texts",
          "invalid_utf8", "mutation_seeds"]


def cut(src, start, end):
    """The text from the line starting with `start` up to (not including) `end`."""
    i = src.index(start)
    j = src.index(end, i)
    return src[i:j]


def json_seeds():
    src = open(TEST_JSON).read()
    # The two helpers the tables use, and the tables; each ends where the next part of
    # the file begins, so a reshuffle of test_json.cpp fails here loudly.
    parts = [
        cut(src, "std::string bytes(std::initializer_list<int> values)", "// `body` between"),
        cut(src, "std::string quoted(std::string_view body)", "// ----"),
        cut(src, "const std::vector<std::string>& valid_scalars()",
            "// ---------------------------------------------------------------------------------------\n"
            "// An independent reference"),
        cut(src, "const std::vector<std::string>& mutation_seeds()", "// Deterministic everywhere"),
    ]
    dump = ["std::vector<std::string> all;"]
    for t in TABLES:
        dump.append(f"for (const auto& s : {t}()) all.push_back(s);")
    dump.append("for (const auto& c : internal_cases()) all.push_back(c.text);")
    program = (
        "#include <cstdint>\n#include <cstdio>\n#include <initializer_list>\n"
        "#include <string>\n#include <string_view>\n#include <vector>\n"
        "namespace {\n" + "\n".join(parts) + "\n}  // namespace\n"
        "int main() {\n" + "\n".join(dump) + "\n"
        "  for (const auto& s : all) {\n"
        "    const std::uint32_t n = static_cast<std::uint32_t>(s.size());\n"
        "    std::fwrite(&n, 4, 1, stdout);\n"
        "    std::fwrite(s.data(), 1, s.size(), stdout);\n"
        "  }\n}\n")
    with tempfile.TemporaryDirectory() as tmp:
        cpp = os.path.join(tmp, "tables.cpp")
        exe = os.path.join(tmp, "tables")
        open(cpp, "w").write(program)
        cxx = os.environ.get("CXX", "c++")
        subprocess.run([cxx, "-std=c++20", "-o", exe, cpp], check=True)
        out = subprocess.run([exe], check=True, stdout=subprocess.PIPE).stdout
    seeds, i = [], 0
    while i < len(out):
        (n,) = struct.unpack_from("<I", out, i)
        seeds.append(out[i + 4:i + 4 + n])
        i += 4 + n
    return seeds


def framing(max_line, stop_every=0, vary_max=False, clears=False, specs=(0x3f,), stream=b""):
    """One framing input: the header fuzz_framing.cpp reads, then the stream."""
    assert 1 <= len(specs) <= 8
    flags = stop_every | (8 if vary_max else 0) | (16 if clears else 0) | ((len(specs) - 1) << 5)
    return bytes([max_line, flags]) + bytes(specs) + stream


def framing_seeds():
    msgs = b'{"cmd":"NODE_HANDLE"}\n{"a":1}\n[1,2,3]\n"\xc3\xa9"\n\n{"cmd":"NODE_X"}\nnull\n'
    long_line = b'{"k":"' + b"x" * 100 + b'"}\n'
    return [
        framing(64, stream=msgs),                                   # one feed
        framing(64, specs=(1,), stream=msgs),                      # a byte at a time
        framing(64, specs=(3, 7, 0, 16), stream=msgs),             # odd splits, an empty feed
        framing(16, specs=(5,), stream=msgs + long_line + msgs),   # overflow across feeds
        framing(16, specs=(63,), stream=long_line + b'{"b":2}\n'),  # overflow in one feed
        framing(8, specs=(2, 9), stream=b"12345678\n123456789\n\n1\n"),  # at the limit
        framing(0, specs=(1, 2), stream=b"\n\n\nx\n\n"),              # only empty lines fit
        framing(64, stop_every=1, specs=(63,), stream=msgs),        # stop at every line
        framing(64, stop_every=3, specs=(4, 20), stream=msgs * 2),  # stop now and then
        framing(64, clears=True, specs=(10, 0x40 | 10), stream=msgs),      # clear() mid-line
        framing(40, vary_max=True, specs=(12, 0x80 | 5, 12), stream=msgs + long_line),
        framing(16, stream=b'{"a":"unfinished tail'),               # pending at the end
        framing(8, specs=(4,), stream=b"1\n" + b"y" * 30),            # skipping at the end
    ]


def write(dirname, seeds, clean):
    os.makedirs(dirname, exist_ok=True)
    if clean:
        for f in os.listdir(dirname):
            if re.fullmatch(r"[0-9a-f]{40}", f):
                os.remove(os.path.join(dirname, f))
    new = 0
    for s in seeds:
        path = os.path.join(dirname, hashlib.sha1(s).hexdigest())
        if not os.path.exists(path):
            open(path, "wb").write(s)
            new += 1
    print(f"{os.path.relpath(dirname, ROOT)}: {len(set(seeds))} seeds, {new} new")


def main():
    clean = "--clean" in sys.argv[1:]
    write(os.path.join(HERE, "corpus", "json"), json_seeds(), clean)
    write(os.path.join(HERE, "corpus", "framing"), framing_seeds(), clean)


if __name__ == "__main__":
    if shutil.which(os.environ.get("CXX", "c++")) is None:
        sys.exit("seed_corpus.py: no C++ compiler (set CXX)")
    main()

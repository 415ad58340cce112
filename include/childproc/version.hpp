// childproc's version, the language it needs, and the export macro: included first by
// every public header, so a build below C++20 fails with one line that says so.
#pragma once

#if !defined(__cplusplus) || __cplusplus < 202002L
#error "childproc needs C++20: compile with -std=c++20 (or later)"
// A missing header is a fatal error: the compiler stops here instead of adding pages
// about what C++17 lacks.
#include <childproc/stop-here-cxx20-required>
#endif

#include <version>

#if !defined(__cpp_lib_jthread)
#error \
    "childproc needs std::stop_token (C++20 <stop_token>): libstdc++ 10 or later, or libc++ 18 or later"
#include <childproc/stop-here-stop-token-required>
#endif

/// The release, as in meson.build's project(): MAJOR.MINOR.PATCH. The shared library's
/// SONAME carries MAJOR.
#define CHILDPROC_VERSION_MAJOR 0
#define CHILDPROC_VERSION_MINOR 1
#define CHILDPROC_VERSION_PATCH 0
#define CHILDPROC_VERSION_STRING "0.1.0"
/// One number to compare: MAJOR * 10000 + MINOR * 100 + PATCH.
#define CHILDPROC_VERSION \
  (CHILDPROC_VERSION_MAJOR * 10000 + CHILDPROC_VERSION_MINOR * 100 + CHILDPROC_VERSION_PATCH)

/// Marks the public API: the library is built with hidden visibility, so only names
/// marked so (and nothing of childproc::detail that the headers do not call) are
/// exported from libchildproc.so.
#if defined(__GNUC__) || defined(__clang__)
#define CHILDPROC_API __attribute__((visibility("default")))
#else
#define CHILDPROC_API
#endif

// Node's argument checks for strings, with its exact messages.
#pragma once

#include <string>
#include <string_view>

namespace childproc::detail {

/// The value as Node's ERR_INVALID_ARG_VALUE messages print it: quoted ('...', or
/// "..." / `...` to avoid escaping a quote), control characters and backslashes
/// escaped, a long multi-line value split into '...\n' + pieces, and the whole cut
/// at 128 UTF-16 units plus "...". `s` is taken as UTF-8.
std::string inspect(std::string_view s);

/// Throws InvalidArgument ERR_INVALID_ARG_VALUE when `value` holds a NUL byte:
/// "The argument '<name>' must be a string without null bytes. Received ...".
void check_argument(std::string_view value, std::string_view name);
/// The same for an option: "The property '<name>' must be ...".
void check_property(std::string_view value, std::string_view name);
/// The same for an argument or option Node also takes as a Uint8Array or URL (paths:
/// cwd, fork's modulePath): "... must be a string, Uint8Array, or URL without null
/// bytes. ...". `kind` is "argument" or "property".
void check_path(std::string_view value, std::string_view kind, std::string_view name);

}  // namespace childproc::detail

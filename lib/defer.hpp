// Running a function from the loop, soon, rather than inside the current call: errors
// of a call (write after end, send after disconnect) reach listeners the way Node's
// process.nextTick delivers them, so a listener that calls again cannot recurse.
#pragma once

#include <uv.h>

#include <functional>

namespace childproc::detail {

/// Runs `fn` once from `loop` on its next iteration (a zero timer, which keeps the
/// loop alive until then). An exception from `fn` goes to the UnhandledHandler.
void defer(uv_loop_t* loop, std::function<void()> fn);

}  // namespace childproc::detail

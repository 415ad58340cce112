// childproc: Node's child_process for C++ programs on a libuv loop. Includes every layer.
#pragma once

#include <childproc/version.hpp>

#include <childproc/child_process.hpp>
#include <childproc/error.hpp>
#include <childproc/event_emitter.hpp>
#include <childproc/exec.hpp>
#include <childproc/fork.hpp>
#include <childproc/ipc.hpp>
#include <childproc/job_queue.hpp>
#include <childproc/options.hpp>
#include <childproc/resource_usage.hpp>
#include <childproc/signals.hpp>
#include <childproc/stream.hpp>
#include <childproc/sync.hpp>
#include <childproc/task.hpp>

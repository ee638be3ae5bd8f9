// The library's I/O threads as a whole: stopping them, and telling whether a thread is one.
#pragma once

namespace polyrpc {

// Stops polyrpc's I/O threads (every loop's thread exits; this blocks until they have). Channels,
// servers and calls created before are dead afterwards: the caller ends them first (closes
// channels, shuts servers down), because work posted to them is dropped. The next channel or
// server created starts new threads. Returns false, doing nothing, on an I/O thread (a
// completion runs there: it cannot stop itself). Thread-safe; meant for a host's exit hook.
bool ShutdownRuntime();

// True on one of polyrpc's I/O threads (where handlers and completions run).
bool OnIoThread();

}  // namespace polyrpc

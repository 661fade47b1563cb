// Hijacked engine connections: a request the engine answers with
// "101 Switching Protocols", after which the connection carries another
// protocol (a BuildKit session's h2c; later exec and attach streams).
//
// The response head is read byte by byte, so not one byte of the new
// protocol is consumed: the returned descriptor starts exactly where the
// engine's 101 ended. Unix-socket and plain-TCP engines only; a TLS engine is
// FailedPrecondition (the caller cannot hand a TLS session to another
// protocol stack). Thread-safe: each call opens its own connection.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/engine/engine_client.h"

namespace dkd::core {

// A connected socket to the engine (blocking, close-on-exec), or Unavailable
// naming the address, or ResourceExhausted when dkd is out of descriptors.
// Waits at most `timeout` for the connection.
absl::StatusOr<int> ConnectToEngine(const EngineAddress& address, absl::Duration timeout);

// Sends `request` (API-versioned, negotiating first) with `Connection:
// Upgrade` and `Upgrade: protocol`, and returns the connection's descriptor
// once the engine has switched protocols; the caller owns it. Any other
// answer is the engine's mapped error (StatusFromEngineHttp); silence longer
// than the engine client's response timeout is Unavailable.
absl::StatusOr<int> HijackEngineConnection(EngineClient& engine, const EngineRequest& request,
                                           absl::string_view protocol);

}  // namespace dkd::core

// Host-port choice for published ports that name no host port.
//
// Left to itself the engine binds such a port to an ephemeral port from the
// kernel's range, which may lie outside run.published_ports. When the policy
// restricts the range, dkd picks the port itself: it probes candidates in the
// allowed range, starting at a random offset, by binding a socket of the
// port's protocol on the requested host address, and hands the engine the
// first free one. Another process can still take the port before the engine
// binds it; the caller then retries with a fresh pick. Thread-safe.
#pragma once

#include <set>
#include <string>

#include "absl/status/statusor.h"

namespace dkd::core {

// True when [min_port, max_port] admits every port the engine could choose
// by itself, so no pick is needed.
bool PortRangeUnrestricted(int min_port, int max_port);

// A free port in [min_port, max_port] for `protocol` ("tcp", "udp", "sctp")
// on `host_ip` ("" = all interfaces), not in `avoid`. ResourceExhausted
// naming run.published_ports when none is free.
absl::StatusOr<int> PickHostPort(const std::string& host_ip, const std::string& protocol,
                                 int min_port, int max_port, const std::set<int>& avoid);

}  // namespace dkd::core

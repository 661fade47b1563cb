// dkd's version, reported by Ping and `dkctl version`.
#pragma once

#include <string_view>

namespace dkd::server {
inline constexpr std::string_view kDaemonVersion = "0.1.0";
}  // namespace dkd::server

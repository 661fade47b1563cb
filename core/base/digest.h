// Sha256Hex: the lowercase hex SHA-256 of a string (token hashes, cache
// namespaces).
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace dkd::core {

std::string Sha256Hex(absl::string_view text);

}  // namespace dkd::core

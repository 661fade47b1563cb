// A ContextSource over bytes held in memory, and a ContextStore loaded from a
// tar held in memory, for tests. Header-only.
#pragma once

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/context/context_store.h"

namespace dkd::testing {

// Reads `data` (which must outlive the source) in pieces of at most the
// length asked for, then 0.
inline core::ContextSource StringSource(const std::string& data) {
  auto off = std::make_shared<size_t>(0);
  return [&data, off](char* buf, size_t n) -> absl::StatusOr<size_t> {
    const size_t k = std::min(n, data.size() - *off);
    std::memcpy(buf, data.data() + *off, k);
    *off += k;
    return k;
  };
}

// The store of `tar`, spooled in `spool_dir`.
inline absl::StatusOr<std::unique_ptr<core::ContextStore>> LoadStore(const std::string& tar,
                                                                     const std::string& spool_dir) {
  return core::ContextStore::Load(StringSource(tar), spool_dir);
}

}  // namespace dkd::testing

// OptimizeDockerfile rewrites a Dockerfile with best practices applied, and
// says what it changed:
//   - `apt-get install` gains `-y` and `--no-install-recommends`, and a RUN
//     that runs apt-get ends with `rm -rf /var/lib/apt/lists/*`;
//   - `pip install` gains `--no-cache-dir`, `apk add` gains `--no-cache`
//     (unless a cache mount or PIP_NO_CACHE_DIR makes them moot);
//   - `RUN cd /abs && cmd` becomes `WORKDIR /abs` + `RUN cmd` when the
//     stage's previous WORKDIR is known (and is then restored);
//   - consecutive shell-form RUNs of a stage (same flags, nothing but blank
//     lines between, and no `cd`/`export`/`exit` whose effect would leak into
//     the next command) are combined with `&&`.
// Instructions it does not change keep their text, comments and layout. The
// result parses, lints with no more findings than the input (fewer when
// something was fixed), and optimizing it again changes nothing.
//
// Pure function; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/buildgen/dockerfile_linter.h"

namespace dkd::core {

struct OptimizeResult {
  std::string dockerfile;
  // One line per change, e.g. "line 4-6: combined 3 RUN instructions".
  std::vector<std::string> changes;
  std::vector<LintFinding> findings_before;
  std::vector<LintFinding> findings_after;
};

// InvalidArgument when `text` does not parse as a Dockerfile.
absl::StatusOr<OptimizeResult> OptimizeDockerfile(std::string_view text);

}  // namespace dkd::core

// The build.allow_remote_add rule: a build may not make the engine fetch a
// URL. The classic builder downloads ADD sources that are URLs inside the
// engine process, in the host's own network namespace, so a build could copy
// the answer of any host-loopback service into an image. COPY never fetches.
//
// Pure functions; thread-safe.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "core/policy/base_image_check.h"

namespace dkd::core {

// PermissionDenied naming build.allow_remote_add when an ADD (ONBUILD
// triggers included) may fetch a URL: the engine downloads it from the host's
// own network namespace, loopback services included. A source that names a
// URL, or could once expanded (variables, quotes, escapes), counts; COPY
// never fetches. InvalidArgument when the file does not parse.
absl::Status CheckNoRemoteSources(const std::string& dockerfile, BuilderKind builder);

}  // namespace dkd::core

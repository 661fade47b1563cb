// Image references ("ubuntu", "app:1", "localhost:5000/team/app@sha256:…").
//
// ParseImageReference accepts what the docker CLI accepts and returns the
// reference in normalised form: the domain is always filled in ("docker.io"
// when omitted, "index.docker.io" folded into it) and single-component Docker
// Hub paths gain the "library/" namespace. The grammar is the one of the
// distribution reference package:
//
//   reference  := name [":" tag] ["@" digest]
//   name       := [domain "/"] path
//   domain     := host [":" port]   host := domain-name | "[" ipv6 "]"
//   path       := component ("/" component)*
//   component  := [a-z0-9]+ (separator [a-z0-9]+)*   separator := "." | "_" | "__" | "-"+
//   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
//   digest     := algorithm ":" hex   (sha256/sha384/sha512, lowercase hex of exact length)
//
// A first component is a domain only if it contains "." or ":", is
// "localhost", or has an uppercase letter; otherwise it belongs to the path.
// The path (without the domain) is at most 255 characters, as upstream checks.
// Parsing is a single left-to-right scan with no regular expressions.
//
// All functions are pure and thread-safe; ImageReference is a plain value.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dkd::core {

inline constexpr std::string_view kDefaultDomain = "docker.io";
inline constexpr std::string_view kOfficialRepoPrefix = "library/";
inline constexpr std::string_view kDefaultTag = "latest";
inline constexpr size_t kMaxRepositoryPathLength = 255;
inline constexpr size_t kMaxTagLength = 128;

// A parsed, normalised image reference. `domain` and `path` are never empty
// in a value returned by ParseImageReference; `tag` and `digest` may be.
struct ImageReference {
  std::string domain;  // "docker.io", "localhost:5000", "[::1]:5000"
  std::string path;    // "library/ubuntu", "team/app"
  std::string tag;     // "" when absent
  std::string digest;  // "" when absent, else "sha256:<hex>"

  // "docker.io/library/ubuntu": domain and path, no tag or digest.
  std::string FullName() const;
  // The name as docker prints it: "ubuntu", "team/app", "localhost:5000/app".
  std::string FamiliarName() const;
  // FullName() plus ":tag" and "@digest" where present.
  std::string String() const;
  // FamiliarName() plus ":tag" and "@digest" where present.
  std::string FamiliarString() const;
  // A copy with tag "latest" when neither a tag nor a digest is present.
  ImageReference WithDefaultTag() const;

  friend bool operator==(const ImageReference& a, const ImageReference& b) {
    return a.domain == b.domain && a.path == b.path && a.tag == b.tag && a.digest == b.digest;
  }
  friend bool operator!=(const ImageReference& a, const ImageReference& b) { return !(a == b); }
};

// Parses and normalises `text`. Returns InvalidArgument naming the broken rule
// (uppercase path, bad tag, unsupported digest, too long, a 64-hex image id, …).
absl::StatusOr<ImageReference> ParseImageReference(std::string_view text);

// Returns OK if `tag` matches [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}, else InvalidArgument.
absl::Status ValidateTag(std::string_view tag);

// Returns OK if `digest` is "sha256:", "sha384:" or "sha512:" followed by
// lowercase hex of the algorithm's length, else InvalidArgument.
absl::Status ValidateDigest(std::string_view digest);

// True for an image id as the engine prints it: 64 lowercase hex characters,
// optionally prefixed by "sha256:". Such strings are ids, never names.
bool IsImageId(std::string_view text);

}  // namespace dkd::core

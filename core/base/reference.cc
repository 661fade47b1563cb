// Image references (reference.h): the docker CLI's reference grammar, parsing
// and normalisation, tags, digests and image ids.
#include "core/base/reference.h"

#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/base/strings.h"

namespace dkd::core {
namespace {

constexpr std::string_view kLegacyDefaultDomain = "index.docker.io";
constexpr std::string_view kLocalhost = "localhost";
// Anything longer cannot be a valid reference (domain + 255 path + tag + digest)
// and is refused before it is scanned or echoed.
constexpr size_t kMaxReferenceLength = 1024;

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAlnum(char c) { return IsAlpha(c) || IsDigit(c); }
bool IsWordChar(char c) { return IsAlnum(c) || c == '_'; }
bool IsLowerHex(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f'); }
bool IsHex(char c) { return IsLowerHex(c) || (c >= 'A' && c <= 'F'); }

bool HasUpper(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

absl::Status Invalid(std::string_view text, std::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid image reference ", Quote(text), ": ", Sv(rule)));
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
bool IsDomainComponent(std::string_view c) {
  if (c.empty() || !IsAlnum(c.front()) || !IsAlnum(c.back())) return false;
  for (char ch : c) {
    if (!IsAlnum(ch) && ch != '-') return false;
  }
  return true;
}

bool IsDomainName(std::string_view name) {
  while (true) {
    size_t dot = name.find('.');
    if (!IsDomainComponent(name.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    name.remove_prefix(dot + 1);
  }
}

bool IsPort(std::string_view port) {
  if (port.empty()) return false;
  for (char c : port) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

// domain := (domain-name | "[" [a-fA-F0-9:]+ "]") [":" [0-9]+]
bool IsDomain(std::string_view domain) {
  std::string_view host = domain;
  std::string_view rest;
  if (!domain.empty() && domain.front() == '[') {
    size_t close = domain.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (char c : domain.substr(1, close - 1)) {
      if (!IsHex(c) && c != ':') return false;
    }
    rest = domain.substr(close + 1);
    if (rest.empty()) return true;
    return rest.front() == ':' && IsPort(rest.substr(1));
  }
  size_t colon = domain.find(':');
  if (colon != std::string_view::npos) {
    host = domain.substr(0, colon);
    if (!IsPort(domain.substr(colon + 1))) return false;
  }
  return IsDomainName(host);
}

// component := [a-z0-9]+ (("." | "_" | "__" | "-"+) [a-z0-9]+)*
bool IsPathComponent(std::string_view c) {
  size_t i = 0;
  while (true) {
    size_t run = i;
    while (i < c.size() && IsLowerAlnum(c[i])) ++i;
    if (i == run) return false;  // every separator must be followed by alphanumerics
    if (i == c.size()) return true;
    size_t sep = i;
    char s = c[i];
    while (i < c.size() && c[i] == s) ++i;
    size_t len = i - sep;
    bool ok = (s == '.' && len == 1) || (s == '_' && len <= 2) || s == '-';
    if (!ok) return false;
  }
}

absl::Status ValidatePath(std::string_view text, std::string_view path) {
  if (path.empty()) return Invalid(text, "repository name must have at least one component");
  if (HasUpper(path)) return Invalid(text, "repository name must be lowercase");
  if (path.size() > kMaxRepositoryPathLength) {
    return Invalid(text, absl::StrCat("repository name must not be more than ",
                                      kMaxRepositoryPathLength, " characters"));
  }
  std::string_view rest = path;
  while (true) {
    size_t slash = rest.find('/');
    if (!IsPathComponent(rest.substr(0, slash))) {
      return Invalid(text,
                     "each repository name component must be lowercase letters and digits, "
                     "joined by '.', '_', '__' or '-' (and components by '/')");
    }
    if (slash == std::string_view::npos) return absl::OkStatus();
    rest.remove_prefix(slash + 1);
  }
}

std::string JoinName(std::string_view domain, std::string_view path) {
  return absl::StrCat(Sv(domain), "/", Sv(path));
}

std::string AppendTagAndDigest(std::string name, const ImageReference& ref) {
  if (!ref.tag.empty()) absl::StrAppend(&name, ":", ref.tag);
  if (!ref.digest.empty()) absl::StrAppend(&name, "@", ref.digest);
  return name;
}

}  // namespace

std::string ImageReference::FullName() const { return JoinName(domain, path); }

std::string ImageReference::FamiliarName() const {
  if (domain != kDefaultDomain) return FullName();
  std::string_view p = path;
  if (p.substr(0, kOfficialRepoPrefix.size()) == kOfficialRepoPrefix) {
    std::string_view rest = p.substr(kOfficialRepoPrefix.size());
    if (rest.find('/') == std::string_view::npos) return std::string(rest);
  }
  return path;
}

std::string ImageReference::String() const { return AppendTagAndDigest(FullName(), *this); }

std::string ImageReference::FamiliarString() const {
  return AppendTagAndDigest(FamiliarName(), *this);
}

ImageReference ImageReference::WithDefaultTag() const {
  ImageReference copy = *this;
  if (copy.tag.empty() && copy.digest.empty()) copy.tag = std::string(kDefaultTag);
  return copy;
}

absl::Status ValidateTag(std::string_view tag) {
  bool ok = !tag.empty() && tag.size() <= kMaxTagLength && IsWordChar(tag.front());
  for (size_t i = 1; ok && i < tag.size(); ++i) {
    ok = IsWordChar(tag[i]) || tag[i] == '.' || tag[i] == '-';
  }
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("invalid tag ", Quote(tag),
                   ": a tag is 1 to 128 characters from [A-Za-z0-9_.-] and must not start "
                   "with '.' or '-'"));
}

absl::Status ValidateDigest(std::string_view digest) {
  size_t colon = digest.find(':');
  std::string_view algorithm = digest.substr(0, colon);
  size_t want = 0;
  if (algorithm == "sha256") want = 64;
  if (algorithm == "sha384") want = 96;
  if (algorithm == "sha512") want = 128;
  if (colon == std::string_view::npos || want == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid digest ", Quote(digest),
                     ": expected sha256:, sha384: or sha512: followed by hex"));
  }
  std::string_view hex = digest.substr(colon + 1);
  bool ok = hex.size() == want;
  for (size_t i = 0; ok && i < hex.size(); ++i) ok = IsLowerHex(hex[i]);
  if (ok) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("invalid digest ", Quote(digest), ": ",
                                                 Sv(algorithm), " needs exactly ", want,
                                                 " lowercase hex characters"));
}

bool IsImageId(std::string_view text) {
  constexpr std::string_view kPrefix = "sha256:";
  if (text.substr(0, kPrefix.size()) == kPrefix) text.remove_prefix(kPrefix.size());
  if (text.size() != 64) return false;
  for (char c : text) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

absl::StatusOr<ImageReference> ParseImageReference(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("image reference must not be empty");
  if (text.size() > kMaxReferenceLength) {
    return Invalid(text, absl::StrCat("longer than ", kMaxReferenceLength, " characters"));
  }
  if (IsImageId(text)) {
    return Invalid(text, "a 64-character hexadecimal image id is not a repository name");
  }

  ImageReference ref;
  std::string_view remainder = text;
  size_t slash = text.find('/');
  std::string_view first = text.substr(0, slash);
  bool has_domain = slash != std::string_view::npos &&
                    (first == kLocalhost || first.find_first_of(".:") != std::string_view::npos ||
                     HasUpper(first));
  if (has_domain) {
    if (!IsDomain(first)) {
      return Invalid(text, absl::StrCat("registry domain ", Quote(first),
                                        " must be a host name, IPv4 address or [IPv6] address "
                                        "with an optional :port"));
    }
    ref.domain = first == kLegacyDefaultDomain ? std::string(kDefaultDomain) : std::string(first);
    remainder = text.substr(slash + 1);
  } else {
    ref.domain = std::string(kDefaultDomain);
  }

  std::string_view name_and_tag = remainder;
  size_t at = remainder.find('@');
  if (at != std::string_view::npos) {
    name_and_tag = remainder.substr(0, at);
    std::string_view digest = remainder.substr(at + 1);
    RETURN_IF_ERROR(ValidateDigest(digest));
    ref.digest = std::string(digest);
  }
  std::string_view path = name_and_tag;
  size_t colon = name_and_tag.find(':');
  if (colon != std::string_view::npos) {
    path = name_and_tag.substr(0, colon);
    std::string_view tag = name_and_tag.substr(colon + 1);
    RETURN_IF_ERROR(ValidateTag(tag));
    ref.tag = std::string(tag);
  }
  RETURN_IF_ERROR(ValidatePath(text, path));

  // Docker Hub's official images live in "library/": "ubuntu" and
  // "docker.io/ubuntu" both mean "docker.io/library/ubuntu".
  if (ref.domain == kDefaultDomain && path.find('/') == std::string_view::npos) {
    ref.path = absl::StrCat(Sv(kOfficialRepoPrefix), Sv(path));
    if (ref.path.size() > kMaxRepositoryPathLength) {
      return Invalid(text, absl::StrCat("repository name must not be more than ",
                                        kMaxRepositoryPathLength, " characters"));
    }
  } else {
    ref.path = std::string(path);
  }
  return ref;
}

}  // namespace dkd::core

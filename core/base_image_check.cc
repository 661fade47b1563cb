#include "core/base_image_check.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/dockerfile_parser.h"
#include "core/reference.h"
#include "core/run_policy.h"

namespace dkd::core {
namespace {

constexpr size_t kBlock = 512;
constexpr uint64_t kMaxDockerfile = 4 << 20;

std::string CleanName(std::string name) {
  while (absl::StartsWith(name, "./")) name = name.substr(2);
  while (absl::StartsWith(name, "/")) name = name.substr(1);
  return name;
}

// Octal (or GNU base-256) numeric field.
uint64_t TarNumber(const char* p, size_t n) {
  if (static_cast<unsigned char>(p[0]) & 0x80) {
    uint64_t v = 0;
    for (size_t i = 1; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
  }
  uint64_t v = 0;
  for (size_t i = 0; i < n && p[i]; ++i) {
    if (p[i] >= '0' && p[i] <= '7') v = v * 8 + static_cast<uint64_t>(p[i] - '0');
  }
  return v;
}

std::string PaxPath(const std::string& records) {
  // "<len> path=<value>\n" records.
  size_t pos = 0;
  while (pos < records.size()) {
    const size_t sp = records.find(' ', pos);
    if (sp == std::string::npos) break;
    uint64_t len = 0;
    if (!absl::SimpleAtoi(records.substr(pos, sp - pos), &len) || len == 0) break;
    const std::string rec = records.substr(sp + 1, len - (sp - pos) - 1);
    if (absl::StartsWith(rec, "path=")) {
      std::string v = rec.substr(5);
      if (!v.empty() && v.back() == '\n') v.pop_back();
      return v;
    }
    pos += len;
  }
  return "";
}

}  // namespace

absl::Status CheckBaseImages(const std::string& dockerfile,
                             const std::map<std::string, std::string>& build_args,
                             const std::vector<std::string>& allowed) {
  if (allowed.empty()) return absl::OkStatus();
  auto parsed = ParseDockerfile(dockerfile);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the build's Dockerfile does not parse: ", parsed.status().message()));
  }
  std::map<std::string, std::string> vars;
  bool before_first_from = true;
  std::set<std::string> stages;
  for (const auto& ins : parsed->instructions) {
    if (ins.keyword == "ARG" && before_first_from) {
      for (const auto& kv : ParseKeyValues(ins, parsed->escape)) {
        auto given = build_args.find(kv.key);
        vars[kv.key] = given != build_args.end() ? given->second : kv.value;
      }
      continue;
    }
    if (ins.keyword != "FROM") continue;
    before_first_from = false;
    FromInfo from = ParseFrom(ins, parsed->escape);
    const std::string image = ExpandVariables(from.image, vars);
    const std::string lower = absl::AsciiStrToLower(image);
    if (!from.alias.empty()) stages.insert(from.alias);
    if (lower == "scratch" || (stages.count(lower) && lower != from.alias)) continue;
    auto ref = ParseImageReference(image);
    if (!ref.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("line ", ins.start_line, ": FROM \"", image,
                                                     "\" is not an image reference"));
    }
    absl::Status s =
        CheckRegistryAllowed(allowed, ref->domain, "build base image", "build.base_registries");
    if (!s.ok()) {
      return absl::PermissionDeniedError(
          absl::StrCat("line ", ins.start_line, ": FROM ", image, ": ", s.message()));
    }
  }
  return absl::OkStatus();
}

BaseImageGate::BaseImageGate(std::string dockerfile_name,
                             std::map<std::string, std::string> build_args,
                             std::vector<std::string> allowed)
    : dockerfile_name_(CleanName(std::move(dockerfile_name))),
      build_args_(std::move(build_args)),
      allowed_(std::move(allowed)) {}

absl::Status BaseImageGate::Decide() {
  decided_ = true;
  if (!dockerfile_seen_) {
    return absl::FailedPreconditionError(
        absl::StrCat("the build context holds no ", dockerfile_name_,
                     ", so its base images cannot be checked against build.base_registries"));
  }
  return CheckBaseImages(dockerfile_, build_args_, allowed_);
}

absl::Status BaseImageGate::ParseHeader(const char* block) {
  if (std::all_of(block, block + kBlock, [](char c) { return c == 0; })) {
    at_end_ = true;
    return absl::OkStatus();
  }
  std::string name(block, strnlen(block, 100));
  if (std::string(block + 257, 5) == "ustar" && block[345] != 0) {
    name = absl::StrCat(std::string(block + 345, strnlen(block + 345, 155)), "/", name);
  }
  entry_type_ = block[156];
  remaining_ = TarNumber(block + 124, 12);
  padding_ = (kBlock - remaining_ % kBlock) % kBlock;
  if (!long_name_.empty() && entry_type_ != 'x' && entry_type_ != 'L') {
    name = long_name_;
    long_name_.clear();
  }
  capturing_ = (entry_type_ == '0' || entry_type_ == 0) && CleanName(name) == dockerfile_name_;
  if (capturing_ && remaining_ > kMaxDockerfile) {
    return absl::InvalidArgumentError("the build's Dockerfile is larger than 4 MiB");
  }
  record_.clear();
  if (capturing_) dockerfile_.clear();
  return absl::OkStatus();
}

absl::Status BaseImageGate::Feed(const char* data, size_t len) {
  if (decided_ || len == 0) {
    (held_.empty() ? ready_ : held_).append(data, len);
    return absl::OkStatus();
  }
  if (first_bytes_) {
    first_bytes_ = false;
    const absl::string_view head(data, std::min<size_t>(len, 6));
    const bool compressed = absl::StartsWith(head, "\x1f\x8b") ||  // gzip
                            absl::StartsWith(head, "BZh") ||       // bzip2
                            absl::StartsWith(head,
                                             "\xfd"
                                             "7zXZ") ||                  // xz
                            absl::StartsWith(head, "\x28\xb5\x2f\xfd");  // zstd
    if (compressed) {
      decided_ = true;
      return absl::FailedPreconditionError(
          "a compressed build context cannot be checked against build.base_registries; send "
          "an uncompressed tar");
    }
  }
  for (size_t i = 0; i < len;) {
    if (at_end_) {
      held_.append(data + i, len - i);
      break;
    }
    if (remaining_ > 0) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, len - i));
      if (capturing_) dockerfile_.append(data + i, take);
      if (entry_type_ == 'x' || entry_type_ == 'L') record_.append(data + i, take);
      ready_.append(data + i, take);
      remaining_ -= take;
      i += take;
      if (remaining_ == 0) {
        if (capturing_) {
          dockerfile_seen_ = true;
          capturing_ = false;
          absl::Status s = Decide();
          if (!s.ok()) return s;
          ready_.append(data + i, len - i);  // Decided: the rest passes.
          return absl::OkStatus();
        }
        if (entry_type_ == 'x') long_name_ = PaxPath(record_);
        if (entry_type_ == 'L') long_name_ = std::string(record_.c_str());
      }
      continue;
    }
    if (padding_ > 0) {
      const size_t take = static_cast<size_t>(std::min<uint64_t>(padding_, len - i));
      ready_.append(data + i, take);
      padding_ -= take;
      i += take;
      continue;
    }
    const size_t take = std::min(kBlock - header_.size(), len - i);
    header_.append(data + i, take);
    i += take;
    if (header_.size() < kBlock) continue;
    std::string block;
    block.swap(header_);
    absl::Status s = ParseHeader(block.data());
    if (!s.ok()) return s;
    (at_end_ ? held_ : ready_).append(block);
  }
  return absl::OkStatus();
}

absl::Status BaseImageGate::Finish() {
  if (!decided_) {
    absl::Status s = Decide();
    if (!s.ok()) return s;
  }
  ready_.append(held_);
  held_.clear();
  return absl::OkStatus();
}

void BaseImageGate::TakeReady(std::string* out) {
  if (decided_ && !held_.empty()) {
    ready_.append(held_);
    held_.clear();
  }
  out->append(ready_);
  ready_.clear();
}

}  // namespace dkd::core

// dkctl build's BuildKit flags (build_flags.h): --builder, --secret,
// --platform, --cache-from and --progress.
#include "client/build_flags.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dkd::client {
namespace {

namespace pb = ::dkd::v1;

// Splits one CSV record as Go's encoding/csv does for buildx: fields between
// commas, a field that starts with '"' runs to its closing quote ("" is a
// quote). Nullopt for an unterminated or misplaced quote.
std::optional<std::vector<std::string>> SplitCsv(const std::string& in) {
  std::vector<std::string> fields;
  size_t i = 0;
  while (true) {
    std::string field;
    if (i < in.size() && in[i] == '"') {
      ++i;
      while (true) {
        if (i >= in.size()) return std::nullopt;
        if (in[i] == '"') {
          if (i + 1 < in.size() && in[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += in[i++];
      }
      if (i < in.size() && in[i] != ',') return std::nullopt;
    } else {
      const size_t comma = in.find(',', i);
      field = in.substr(i, comma == std::string::npos ? std::string::npos : comma - i);
      if (field.find('"') != std::string::npos) return std::nullopt;
      i = comma == std::string::npos ? in.size() : comma;
    }
    fields.push_back(std::move(field));
    if (i >= in.size()) break;
    ++i;  // The comma.
  }
  return fields;
}

absl::Status SecretError(absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat("invalid --secret: ", rule));
}

// Reads a secret file whole, refusing what BuildKit would refuse. Messages
// name the file, never its content.
absl::StatusOr<std::string> ReadSecretFile(const SecretSource& s) {
  struct stat st;
  if (stat(s.source.c_str(), &st) != 0) {
    return SecretError(
        absl::StrCat("id=", s.id, ": cannot read src \"", s.source, "\": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return SecretError(absl::StrCat("id=", s.id, ": src \"", s.source, "\" is not a regular file"));
  }
  if (static_cast<size_t>(st.st_size) > kMaxSecretBytes) {
    return SecretError(absl::StrCat("id=", s.id, ": src \"", s.source, "\" is larger than ",
                                    kMaxSecretBytes / 1024, " KiB, BuildKit's limit"));
  }
  std::ifstream in(s.source, std::ios::binary);
  if (!in) {
    return SecretError(
        absl::StrCat("id=", s.id, ": cannot read src \"", s.source, "\": ", std::strerror(errno)));
  }
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad())
    return SecretError(absl::StrCat("id=", s.id, ": cannot read src \"", s.source, "\""));
  if (data.size() > kMaxSecretBytes) {
    return SecretError(absl::StrCat("id=", s.id, ": src \"", s.source, "\" is larger than ",
                                    kMaxSecretBytes / 1024, " KiB, BuildKit's limit"));
  }
  return data;
}

}  // namespace

absl::StatusOr<pb::BuildSpec::Builder> ParseBuilderFlag(const std::string& value) {
  if (value == "auto") return pb::BuildSpec::BUILDER_AUTO;
  if (value == "buildkit") return pb::BuildSpec::BUILDER_BUILDKIT;
  if (value == "classic") return pb::BuildSpec::BUILDER_CLASSIC;
  return absl::InvalidArgumentError(
      absl::StrCat("invalid value \"", value, "\" for --builder: use auto, buildkit or classic"));
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

absl::StatusOr<SecretSource> ParseSecretFlag(const std::string& value, const EnvLookup& env) {
  auto fields = SplitCsv(value);
  if (!fields) return SecretError("unbalanced quotes; fields are KEY=VALUE, comma-separated");
  std::string id, src, env_name, type;
  for (const std::string& field : *fields) {
    const size_t eq = field.find('=');
    // The value is never echoed: a secret typed here by mistake stays unprinted.
    if (eq == std::string::npos) {
      return SecretError("every field must be KEY=VALUE (keys: id, src, env, type)");
    }
    const std::string key = absl::AsciiStrToLower(field.substr(0, eq));
    const std::string v = field.substr(eq + 1);
    if (key == "type") {
      if (v != "file" && v != "env") {
        return SecretError(absl::StrCat("unsupported type \"", v, "\": use file or env"));
      }
      type = v;
    } else if (key == "id") {
      id = v;
    } else if (key == "src" || key == "source") {
      src = v;
    } else if (key == "env") {
      env_name = v;
    } else {
      return SecretError(
          absl::StrCat("unexpected key \"", key, "\": use id, src (or source), env or type"));
    }
  }
  if (type == "env" && env_name.empty()) {
    env_name = src;
    src.clear();
  }
  if (!src.empty() && !env_name.empty()) return SecretError("give src or env, not both");
  if (type == "file" && !env_name.empty()) return SecretError("type=file takes src, not env");
  SecretSource out;
  if (!env_name.empty()) {
    out.kind = SecretSource::Kind::kEnv;
    out.source = env_name;
    out.id = id.empty() ? env_name : id;
  } else if (!src.empty()) {
    out.kind = SecretSource::Kind::kFile;
    out.source = src;
    out.id = id.empty() ? std::filesystem::path(src).filename().string() : id;
  } else if (!id.empty()) {
    // BuildKit's rule for an id alone: its variable when set, else its file.
    out.id = id;
    out.source = id;
    out.kind = (type != "file" && env(id).has_value()) ? SecretSource::Kind::kEnv
                                                       : SecretSource::Kind::kFile;
  } else {
    return SecretError("expected id=ID,src=PATH or id=ID,env=VAR");
  }
  if (out.id.empty()) return SecretError("the id is empty");
  return out;
}

absl::Status AddSecrets(const std::vector<std::string>& values, const EnvLookup& env,
                        pb::BuildSpec* spec) {
  std::set<std::string> ids;
  for (const std::string& value : values) {
    auto source = ParseSecretFlag(value, env);
    if (!source.ok()) return source.status();
    if (!ids.insert(source->id).second) {
      return SecretError(absl::StrCat("duplicate id \"", source->id, "\""));
    }
    std::string data;
    if (source->kind == SecretSource::Kind::kEnv) {
      std::optional<std::string> v = env(source->source);
      if (!v) {
        return SecretError(absl::StrCat("id=", source->id, ": environment variable ",
                                        source->source, " is not set"));
      }
      if (v->size() > kMaxSecretBytes) {
        return SecretError(absl::StrCat("id=", source->id, ": environment variable ",
                                        source->source, " is larger than ", kMaxSecretBytes / 1024,
                                        " KiB, BuildKit's limit"));
      }
      data = std::move(*v);
    } else {
      auto read = ReadSecretFile(*source);
      if (!read.ok()) return read.status();
      data = std::move(*read);
    }
    pb::BuildSecret* secret = spec->add_secrets();
    secret->set_id(source->id);
    secret->set_data(std::move(data));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ParseCacheFromFlag(const std::string& value) {
  if (value.empty()) return absl::InvalidArgumentError("invalid --cache-from: the value is empty");
  if (value.find('=') == std::string::npos) return value;
  auto fields = SplitCsv(value);
  if (!fields) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --cache-from \"", value, "\": unbalanced quotes"));
  }
  std::string type = "registry", ref, unknown;
  for (const std::string& field : *fields) {
    const size_t eq = field.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid --cache-from \"", value, "\": field \"", field, "\" must be KEY=VALUE"));
    }
    const std::string key = absl::AsciiStrToLower(field.substr(0, eq));
    if (key == "type") {
      type = field.substr(eq + 1);
    } else if (key == "ref") {
      ref = field.substr(eq + 1);
    } else if (unknown.empty()) {
      unknown = key;
    }
  }
  if (type != "registry") {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --cache-from \"", value, "\": unsupported type \"", type,
                     "\": only type=registry (an image) is supported"));
  }
  if (!unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --cache-from \"", value,
                                                   "\": unexpected key \"", unknown,
                                                   "\": use type=registry,ref=IMAGE"));
  }
  if (ref.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid --cache-from \"", value, "\": ref=IMAGE is required"));
  }
  return ref;
}

absl::Status CheckPlatformFlag(const std::string& value) {
  if (value.find(',') != std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid --platform \"", value, "\": one platform only (a build makes one image)"));
  }
  int parts = 1;
  for (char c : value) {
    if (c == '/') {
      ++parts;
    } else if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' &&
               c != '.') {
      parts = 0;
      break;
    }
  }
  if (value.empty() || parts < 1 || parts > 3 || absl::StartsWith(value, "/") ||
      absl::EndsWith(value, "/") || absl::StrContains(value, "//")) {
    return absl::InvalidArgumentError(absl::StrCat("invalid --platform \"", value,
                                                   "\": use os/arch[/variant], e.g. linux/amd64"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ProgressMode> ParseProgressFlag(const std::string& value) {
  if (value == "auto") return ProgressMode::kAuto;
  if (value == "plain") return ProgressMode::kPlain;
  if (value == "tty") return ProgressMode::kTty;
  if (value == "quiet") return ProgressMode::kQuiet;
  if (value == "rawjson") return ProgressMode::kRawJson;
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid value \"", value, "\" for --progress: use auto, plain, tty, quiet or rawjson"));
}

absl::StatusOr<ProgressMode> ResolveProgress(ProgressMode mode, bool quiet, bool is_terminal) {
  if (quiet) {
    if (mode != ProgressMode::kAuto && mode != ProgressMode::kQuiet) {
      return absl::InvalidArgumentError(
          "--quiet and --progress cannot be used together (except --progress=quiet or auto)");
    }
    return ProgressMode::kQuiet;
  }
  if (mode == ProgressMode::kAuto) return is_terminal ? ProgressMode::kTty : ProgressMode::kPlain;
  return mode;
}

absl::Status ApplyBuildKitFlags(const BuildKitFlags& flags, const EnvLookup& env,
                                pb::BuildSpec* spec) {
  auto builder = ParseBuilderFlag(flags.builder);
  if (!builder.ok()) return builder.status();
  if (*builder == pb::BuildSpec::BUILDER_CLASSIC && !flags.secrets.empty()) {
    return SecretError("secrets need BuildKit, and --builder classic was asked for");
  }
  if (!flags.platform.empty()) {
    if (absl::Status s = CheckPlatformFlag(flags.platform); !s.ok()) return s;
  }
  std::vector<std::string> cache_from;
  for (const std::string& value : flags.cache_from) {
    auto ref = ParseCacheFromFlag(value);
    if (!ref.ok()) return ref.status();
    cache_from.push_back(std::move(*ref));
  }
  pb::BuildSpec out;
  if (absl::Status s = AddSecrets(flags.secrets, env, &out); !s.ok()) return s;
  spec->set_builder(*builder);
  spec->set_platform(flags.platform);
  for (auto& ref : cache_from) spec->add_cache_from(std::move(ref));
  for (auto& secret : *out.mutable_secrets()) *spec->add_secrets() = std::move(secret);
  return absl::OkStatus();
}

}  // namespace dkd::client

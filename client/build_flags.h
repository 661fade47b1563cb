// dkctl build's BuildKit flags, spelled as `docker buildx build` spells them:
// --builder, --secret, --platform, --cache-from and --progress, parsed into
// BuildSpec fields and an output mode. Pure functions; errors are
// InvalidArgument naming the flag and the rule, and never hold a secret's bytes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base/validation.h"
#include "dkd/v1/docker_manager.pb.h"

namespace dkd::client {

// --builder auto|buildkit|classic.
absl::StatusOr<dkd::v1::BuildSpec::Builder> ParseBuilderFlag(const std::string& value);

// Where one --secret's bytes come from.
struct SecretSource {
  enum class Kind { kFile, kEnv };
  std::string id;
  Kind kind = Kind::kFile;
  std::string source;  // The file's path, or the environment variable's name.
};

// Reads the environment; std::getenv unless a test gives its own.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup ProcessEnv();

// One --secret value: comma-separated KEY=VALUE fields (CSV quoting allowed),
// keys `id`, `src` (or `source`), `env` and `type` (`file` or `env`). As
// buildx and BuildKit do: `type=env,src=V` reads variable V; without an id,
// `src=PATH` takes PATH's base name and `env=V` the name V; an `id` alone
// reads the variable of that name when it is set, else the file of that name.
absl::StatusOr<SecretSource> ParseSecretFlag(const std::string& value, const EnvLookup& env);

// The largest secret BuildKit accepts (its MaxSecretSize).
inline constexpr size_t kMaxSecretBytes = core::kMaxBuildSecretBytes;

// Parses every --secret value and reads its bytes on this machine into
// `spec->secrets`. InvalidArgument for a missing or unreadable file, an unset
// variable, a duplicate id, an unknown key or a secret over kMaxSecretBytes.
absl::Status AddSecrets(const std::vector<std::string>& values, const EnvLookup& env,
                        dkd::v1::BuildSpec* spec);

// One --cache-from value: `type=registry,ref=REF` or a plain `REF`; returns REF.
absl::StatusOr<std::string> ParseCacheFromFlag(const std::string& value);

// One --platform value, "os/arch[/variant]"; a list is refused (one build
// makes one image).
absl::Status CheckPlatformFlag(const std::string& value);

// What dkctl build prints while it builds.
enum class ProgressMode {
  kAuto,     // kTty on a terminal, else kPlain.
  kPlain,    // docker --progress=plain for BuildKit; the classic log as it comes.
  kTty,      // A compact view redrawn in place.
  kQuiet,    // Only the image id at the end (docker build -q).
  kRawJson,  // Every BuildEvent as one line of protobuf JSON.
};
absl::StatusOr<ProgressMode> ParseProgressFlag(const std::string& value);
// The mode to use for --progress `mode` with -q `quiet`, when stderr
// `is_terminal`: never kAuto. -q with a --progress other than auto or quiet
// is InvalidArgument, as buildx says.
absl::StatusOr<ProgressMode> ResolveProgress(ProgressMode mode, bool quiet, bool is_terminal);

// The BuildKit flags of one `dkctl build`, as given on the command line.
struct BuildKitFlags {
  std::string builder = "auto";
  std::vector<std::string> secrets;
  std::string platform;
  std::vector<std::string> cache_from;
};
// Checks `flags` and sets builder, secrets, platform and cache_from on `spec`
// (nothing on error). --secret with --builder classic is InvalidArgument:
// only BuildKit mounts secrets.
absl::Status ApplyBuildKitFlags(const BuildKitFlags& flags, const EnvLookup& env,
                                dkd::v1::BuildSpec* spec);

}  // namespace dkd::client

// The build.allow_remote_add rule (remote_add_check.h): the ADD sources that may
// be URLs, found and refused.
#include "core/policy/remote_add_check.h"

#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/policy/engine_dockerfile.h"
#include "nlohmann/json.hpp"

namespace dkd::core {
namespace {

// The sources of an ADD (all its words but the last), as written.
std::vector<std::string> AddSources(const EngineInstruction& ins) {
  std::vector<std::string> words;
  if (!ins.args.empty() && ins.args[0] == '[') {
    nlohmann::json j = nlohmann::json::parse(ins.args, nullptr, false);
    if (j.is_array()) {
      for (const auto& e : j) words.push_back(e.is_string() ? e.get<std::string>() : e.dump());
    } else {
      words = EngineWhitespaceWords(ins.args);
    }
  } else {
    words = EngineWhitespaceWords(ins.args);
  }
  if (!words.empty()) words.pop_back();
  return words;
}

absl::Status CheckAdd(const EngineInstruction& ins, const std::string& prefix, BuilderKind builder,
                      char escape) {
  if (ins.command != "add") return absl::OkStatus();
  for (const std::string& src : AddSources(ins)) {
    const bool url = absl::StrContains(src, "://") ||
                     (builder == BuilderKind::kBuildKit && absl::StartsWith(src, "git@"));
    const bool unclear =
        src.find_first_of(absl::StrCat("$\\\"'`", std::string(1, escape))) != std::string::npos;
    if (url || unclear) {
      return absl::PermissionDeniedError(absl::StrCat(
          "line ", ins.line, ": ", prefix, "ADD ", src, ": ",
          url ? "fetches a URL" : "may expand to a URL",
          ", which the engine downloads from the host's own network; use COPY for files in the "
          "context, or set build.allow_remote_add"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckNoRemoteSources(const std::string& dockerfile, BuilderKind builder) {
  ASSIGN_OR_RETURN(std::vector<EngineDockerfile> readings, ParseAsBuilder(dockerfile, builder));
  for (const EngineDockerfile& reading : readings) {
    const EngineDockerfile* parsed = &reading;
    for (const EngineInstruction& ins : parsed->instructions) {
      RETURN_IF_ERROR(CheckAdd(ins, "", builder, parsed->escape));
      if (ins.command != "onbuild") continue;
      // As the downstream build will read the trigger.
      auto trigger = ParseEngineDockerfile(OnbuildTrigger(ins.line_text), false);
      if (!trigger.ok()) continue;
      for (EngineInstruction t : trigger->instructions) {
        t.line = ins.line;
        RETURN_IF_ERROR(CheckAdd(t, "ONBUILD ", builder, '\\'));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace dkd::core

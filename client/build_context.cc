// BuildContext (build_context.h): opening a local directory as a build context,
// with its Dockerfile found inside it or sent along from outside.
#include "client/build_context.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace dkd::client {

namespace fs = std::filesystem;

absl::StatusOr<BuildContext> BuildContext::Open(const std::string& context_dir,
                                                const std::string& dockerfile) {
  std::error_code ec;
  const fs::path dir = fs::absolute(context_dir, ec);
  core::ContextPackOptions options;
  std::string external;
  if (!dockerfile.empty()) {
    const fs::path df = fs::absolute(dockerfile, ec);
    const fs::path rel = fs::relative(df, dir, ec);
    if (!fs::is_regular_file(df)) {
      return absl::NotFoundError(absl::StrCat("Cannot locate specified Dockerfile: ", dockerfile));
    }
    if (!ec && !rel.empty() && !absl::StartsWith(rel.string(), "..")) {
      options.dockerfile = rel.string();
    } else {
      // Outside the context: sent along in memory, as docker does.
      std::ifstream in(df);
      std::stringstream ss;
      ss << in.rdbuf();
      external = ss.str();
    }
  } else if (!fs::is_regular_file(dir / "Dockerfile")) {
    return absl::NotFoundError(
        absl::StrCat("Cannot locate specified Dockerfile: ", (dir / "Dockerfile").string()));
  }
  auto packer = core::ContextPacker::Create(dir.string(), options);
  if (!packer.ok()) return packer.status();
  if (!external.empty()) packer->AddExternalDockerfile(external);
  return BuildContext(std::move(*packer));
}

}  // namespace dkd::client

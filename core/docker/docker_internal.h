// Helpers the DockerManager's source files share; not part of its API.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/base/reference.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_streams.h"
#include "nlohmann/json.hpp"

namespace dkd::core::internal {

// Container ids and names as path components: the engine accepts ids, id
// prefixes and names; anything else is InvalidArgument naming `field` before
// it reaches a URL.
absl::Status ValidateContainerRef(const std::string& field, const std::string& id);
// "/containers/<id><suffix>", the id percent-encoded and without a leading "/".
std::string ContainerPath(const std::string& id, absl::string_view suffix = "");
// The engine's `filters` query value; keys without values are left out.
nlohmann::json FiltersJson(const std::map<std::string, std::vector<std::string>>& f);
// The string members of a JSON object.
std::map<std::string, std::string> StringMap(const nlohmann::json& j);

// Progress of a push or pull from one engine JSON message.
Progress ToProgress(const JsonMessage& m);
// InvalidArgument naming `field` unless `v` matches [a-zA-Z0-9_.-]*.
absl::Status ValidateSimpleName(const std::string& field, const std::string& v);
// Parses a reference for push/pull: tag defaults to latest.
absl::StatusOr<ImageReference> ParseImageArg(const std::string& field, const std::string& image);

// Reads one engine JSON-message stream, calling `on_message` for each;
// `on_message` returning false stops it. Not thread-safe.
class JsonMessageStream {
 public:
  explicit JsonMessageStream(std::function<bool(const JsonMessage&)> on_message)
      : on_message_(std::move(on_message)) {}
  bool Feed(absl::string_view data) {
    return lines_.Feed(data, [this](absl::string_view l) { return Line(l); });
  }
  void Finish() {
    lines_.Finish([this](absl::string_view l) { return Line(l); });
  }
  const absl::Status& status() const { return status_; }

 private:
  bool Line(absl::string_view line) {
    JsonMessage m;
    if (absl::Status s = ParseJsonMessage(line, m); !s.ok()) {
      status_ = s;
      return false;
    }
    return on_message_(m);
  }
  std::function<bool(const JsonMessage&)> on_message_;
  LineSplitter lines_;
  absl::Status status_;
};

}  // namespace dkd::core::internal

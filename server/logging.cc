// Daemon logging (logging.h): the spdlog set-up, and request ids per call.
#include "server/logging.h"

#include <random>

#include "absl/strings/str_format.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/spdlog.h"

namespace dkd::server {
namespace {

thread_local std::string current_request_id;

// %* : " [req=ID]" in text lines, the bare id in JSON lines.
class RequestIdFlag final : public spdlog::custom_flag_formatter {
 public:
  explicit RequestIdFlag(bool bare) : bare_(bare) {}
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string& id = current_request_id;
    if (bare_) {
      dest.append(id.data(), id.data() + id.size());
    } else if (!id.empty()) {
      static constexpr char kPrefix[] = " [req=";
      dest.append(kPrefix, kPrefix + sizeof(kPrefix) - 1);
      dest.append(id.data(), id.data() + id.size());
      dest.push_back(']');
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<RequestIdFlag>(bare_);
  }

 private:
  bool bare_;
};

// %& : the message, escaped for a JSON string.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      switch (c) {
        case '"':
          dest.append(std::string_view("\\\""));
          break;
        case '\\':
          dest.append(std::string_view("\\\\"));
          break;
        case '\n':
          dest.append(std::string_view("\\n"));
          break;
        case '\r':
          dest.append(std::string_view("\\r"));
          break;
        case '\t':
          dest.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            const std::string esc = absl::StrFormat("\\u%04x", static_cast<int>(c));
            dest.append(esc.data(), esc.data() + esc.size());
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

}  // namespace

void ConfigureLogging(const std::string& level, const std::string& format) {
  spdlog::set_level(spdlog::level::from_str(level));
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  if (format == "json") {
    formatter->add_flag<RequestIdFlag>('*', /*bare=*/true).add_flag<JsonMessageFlag>('&');
    formatter->set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","request_id":"%*","msg":"%&"})");
  } else {
    formatter->add_flag<RequestIdFlag>('*', /*bare=*/false);
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$%* %v");
  }
  spdlog::set_formatter(std::move(formatter));
}

std::string NewRequestId() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrFormat("%016x", rng());
}

const std::string& CurrentRequestId() { return current_request_id; }

ScopedRequestId::ScopedRequestId(std::string id) : previous_(std::move(current_request_id)) {
  current_request_id = std::move(id);
}

ScopedRequestId::~ScopedRequestId() { current_request_id = std::move(previous_); }

}  // namespace dkd::server

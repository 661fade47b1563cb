// DockerManager's container logs and engine events, blocking and async.
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/docker/docker_internal.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_streams.h"

namespace dkd::core {
namespace {

using internal::ContainerPath;
using internal::FiltersJson;
using internal::StringMap;
using internal::ValidateContainerRef;

// The engine request for `r`'s logs; InvalidArgument naming the field.
absl::StatusOr<EngineRequest> LogsEngineRequest(const LogsRequest& r) {
  RETURN_IF_ERROR(ValidateContainerRef("id", r.id));
  if (r.tail.has_value() && *r.tail < 0) {
    return absl::InvalidArgumentError("tail: must not be negative");
  }
  if (r.since < 0 || r.until < 0) {
    return absl::InvalidArgumentError("since/until: must be seconds since the epoch");
  }
  EngineRequest req;
  req.path = ContainerPath(r.id, "/logs");
  const bool both = !r.stdout_stream && !r.stderr_stream;
  req.query = {{"stdout", (both || r.stdout_stream) ? "1" : "0"},
               {"stderr", (both || r.stderr_stream) ? "1" : "0"}};
  if (r.follow) req.query.emplace_back("follow", "1");
  if (r.timestamps) req.query.emplace_back("timestamps", "1");
  req.query.emplace_back("tail", r.tail.has_value() ? std::to_string(*r.tail) : "all");
  if (r.since > 0) req.query.emplace_back("since", std::to_string(r.since));
  if (r.until > 0) req.query.emplace_back("until", std::to_string(r.until));
  // Silent until the container prints (core/engine/engine_client.h).
  req.read_timeout = absl::Hours(24 * 365);
  return req;
}

// Turns a logs body into chunks: lines of a TTY's console, or the
// multiplexed stdout/stderr frames, with the engine's timestamps split off.
class LogDecoder {
 public:
  using Emit = std::function<bool(LogChunk chunk)>;
  LogDecoder(bool tty, bool timestamps) : tty_(tty), timestamps_(timestamps) {}

  // `emit` returning false stops decoding with Cancelled.
  absl::Status Feed(absl::string_view data, const Emit& emit) {
    if (tty_) {
      const bool more = lines_.Feed(data, [&](absl::string_view l) {
        return Chunk(LogChunk::Stream::kConsole, absl::StrCat(l, "\n"), emit);
      });
      return more ? absl::OkStatus() : absl::CancelledError("stream consumer stopped");
    }
    return frames_.Feed(data, [&](LogFrameDecoder::Stream s, absl::string_view p) {
      return Chunk(s == LogFrameDecoder::Stream::kStderr ? LogChunk::Stream::kStderr
                                                         : LogChunk::Stream::kStdout,
                   p, emit);
    });
  }
  // The body ended: a TTY's last line without newline, or a cut frame.
  absl::Status Finish(const Emit& emit) {
    if (!tty_) return frames_.Finish();
    lines_.Finish([&](absl::string_view l) {
      return Chunk(LogChunk::Stream::kConsole, absl::StrCat(l, "\n"), emit);
    });
    return absl::OkStatus();
  }

 private:
  bool Chunk(LogChunk::Stream stream, absl::string_view payload, const Emit& emit) const {
    LogChunk chunk;
    chunk.stream = stream;
    if (timestamps_) {
      // The engine prefixes each line with an RFC 3339 timestamp and a space.
      if (size_t sp = payload.find(' '); sp != absl::string_view::npos && sp < 40) {
        chunk.timestamp = std::string(payload.substr(0, sp));
        payload.remove_prefix(sp + 1);
      }
    }
    chunk.data = std::string(payload);
    return emit(std::move(chunk));
  }

  const bool tty_;
  const bool timestamps_;
  LineSplitter lines_;
  LogFrameDecoder frames_;
};

bool IsTty(const nlohmann::json& inspect) {
  return inspect.contains("Config") && inspect["Config"].is_object() &&
         inspect["Config"].value("Tty", false);
}

absl::StatusOr<EngineRequest> EventsEngineRequest(const EventsRequest& r) {
  std::map<std::string, std::vector<std::string>> filters;
  for (size_t i = 0; i < r.filters.size(); ++i) {
    const std::string& f = r.filters[i];
    const size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("filters[", i, "]: must be key=value, e.g. type=container"));
    }
    filters[f.substr(0, eq)].push_back(f.substr(eq + 1));
  }
  if (r.since < 0 || r.until < 0) {
    return absl::InvalidArgumentError("since/until: must be seconds since the epoch");
  }
  EngineRequest req;
  req.path = "/events";
  if (r.since > 0) req.query.emplace_back("since", std::to_string(r.since));
  if (r.until > 0) req.query.emplace_back("until", std::to_string(r.until));
  if (!filters.empty()) req.query.emplace_back("filters", FiltersJson(filters).dump());
  req.read_timeout = absl::Hours(24 * 365);
  return req;
}

absl::StatusOr<EngineEvent> ParseEvent(absl::string_view line) {
  auto j = nlohmann::json::parse(line.begin(), line.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InternalError("engine sent a malformed event");
  }
  EngineEvent e;
  e.type = j.value("Type", "");
  e.action = j.value("Action", "");
  e.scope = j.value("scope", "");
  e.time_nano = j.value("timeNano", int64_t{0});
  if (auto a = j.find("Actor"); a != j.end() && a->is_object()) {
    e.actor_id = a->value("ID", "");
    if (auto at = a->find("Attributes"); at != a->end()) e.attributes = StringMap(*at);
  }
  return e;
}

// Feeds a stream's body to a decoder and its items to a callback. A
// callback that wants no more pauses the stream; a decoding error cancels it
// and becomes the stream's end status.
class DecodingSink final : public StreamSink {
 public:
  using Decode = std::function<absl::Status(absl::string_view data, bool* want_more)>;
  using Finish = std::function<absl::Status()>;
  DecodingSink(std::shared_ptr<AsyncCall> call, Decode decode, Finish finish,
               DockerManager::EndCallback on_end)
      : call_(std::move(call)),
        decode_(std::move(decode)),
        finish_(std::move(finish)),
        on_end_(std::move(on_end)) {}

  bool OnData(absl::string_view data) override {
    if (!error_.ok()) return true;  // Cancelling: drop what is still in flight.
    bool want_more = true;
    error_ = decode_(data, &want_more);
    if (!error_.ok()) {
      call_->Cancel();
      return true;
    }
    return want_more;
  }
  void OnEnd(absl::Status status) override {
    if (!error_.ok()) {
      status = error_;
    } else if (status.ok()) {
      status = finish_();
    }
    on_end_(std::move(status));
  }

 private:
  std::shared_ptr<AsyncCall> call_;
  Decode decode_;
  Finish finish_;
  DockerManager::EndCallback on_end_;
  absl::Status error_;
};

}  // namespace

EngineStreamLoop& DockerManager::stream_loop() {
  absl::MutexLock lock(&mu_);
  if (!loop_) loop_ = std::make_unique<EngineStreamLoop>(engine_.get());
  return *loop_;
}

absl::Status DockerManager::Logs(const LogsRequest& r, const LogCallback& on_chunk,
                                 CancelToken* cancel) {
  ASSIGN_OR_RETURN(EngineRequest req, LogsEngineRequest(r));
  ASSIGN_OR_RETURN(nlohmann::json info, InspectContainer(r.id));
  LogDecoder decoder(IsTty(info), r.timestamps);
  const LogDecoder::Emit emit = [&](LogChunk c) { return on_chunk(c); };
  absl::Status decode_status;
  RETURN_IF_ERROR(engine_->Stream(
      req,
      [&](absl::string_view d) {
        decode_status = decoder.Feed(d, emit);
        return decode_status.ok();
      },
      cancel));
  if (!decode_status.ok() && !absl::IsCancelled(decode_status)) return decode_status;
  return decoder.Finish(emit);
}

absl::StatusOr<std::shared_ptr<AsyncCall>> DockerManager::LogsAsync(const LogsRequest& r,
                                                                    const Owner& reader,
                                                                    AsyncLogCallback on_chunk,
                                                                    EndCallback on_end) {
  ASSIGN_OR_RETURN(EngineRequest logs, LogsEngineRequest(r));
  EngineStreamLoop& loop = stream_loop();
  auto call = std::make_shared<AsyncCall>(&loop);
  EngineRequest inspect;
  inspect.path = ContainerPath(r.id, "/json");
  const bool timestamps = r.timestamps;
  const std::string id = r.id;
  // The inspect tells the framing (TTY or not) and the owner; then the logs.
  auto started = [&loop, call, logs = std::move(logs), reader, timestamps, id,
                  on_chunk = std::move(on_chunk),
                  on_end](absl::StatusOr<EngineResponse> res) mutable {
    if (!res.ok()) {
      on_end(res.status());
      return;
    }
    auto info = nlohmann::json::parse(res->body, nullptr, false);
    if (info.is_discarded() || !info.is_object()) {
      on_end(absl::InternalError("engine returned malformed JSON for the container inspect"));
      return;
    }
    const nlohmann::json labels = info.contains("Config") && info["Config"].is_object()
                                      ? info["Config"].value("Labels", nlohmann::json())
                                      : nlohmann::json();
    if (reader.enforced && OwnerOf(labels) != reader.identity) {
      on_end(absl::NotFoundError(absl::StrCat("No such container: ", id)));
      return;
    }
    if (call->cancelled()) {
      on_end(absl::CancelledError("request cancelled"));
      return;
    }
    auto decoder = std::make_shared<LogDecoder>(IsTty(info), timestamps);
    auto sink = std::make_shared<DecodingSink>(
        call,
        [decoder, on_chunk](absl::string_view d, bool* want_more) {
          return decoder->Feed(d, [&](LogChunk c) {
            if (!on_chunk(std::move(c))) *want_more = false;
            return true;  // Whole reads are decoded; pausing stops the next one.
          });
        },
        [decoder, on_chunk] {
          return decoder->Finish([&](LogChunk c) {
            on_chunk(std::move(c));
            return true;
          });
        },
        std::move(on_end));
    call->Attach(loop.Start(std::move(logs), std::move(sink)));
  };
  call->Attach(loop.Call(std::move(inspect), std::move(started)));
  return call;
}

absl::Status DockerManager::Events(const EventsRequest& r, const EventCallback& on_event,
                                   CancelToken* cancel) {
  ASSIGN_OR_RETURN(EngineRequest req, EventsEngineRequest(r));
  LineSplitter lines;
  absl::Status parse_status;
  auto on_line = [&](absl::string_view line) {
    absl::StatusOr<EngineEvent> e = ParseEvent(line);
    if (!e.ok()) {
      parse_status = e.status();
      return false;
    }
    return on_event(*e);
  };
  absl::Status s = engine_->Stream(
      req, [&](absl::string_view d) { return lines.Feed(d, on_line); }, cancel);
  RETURN_IF_ERROR(parse_status);
  return s;
}

absl::StatusOr<std::shared_ptr<AsyncCall>> DockerManager::EventsAsync(const EventsRequest& r,
                                                                      AsyncEventCallback on_event,
                                                                      EndCallback on_end) {
  ASSIGN_OR_RETURN(EngineRequest req, EventsEngineRequest(r));
  EngineStreamLoop& loop = stream_loop();
  auto call = std::make_shared<AsyncCall>(&loop);
  auto lines = std::make_shared<LineSplitter>();
  auto sink = std::make_shared<DecodingSink>(
      call,
      [lines, on_event = std::move(on_event)](absl::string_view d, bool* want_more) {
        absl::Status parse_status;
        lines->Feed(d, [&](absl::string_view line) {
          absl::StatusOr<EngineEvent> e = ParseEvent(line);
          if (!e.ok()) {
            parse_status = e.status();
            return false;
          }
          if (!on_event(*std::move(e))) *want_more = false;
          return true;
        });
        return parse_status;
      },
      [] { return absl::OkStatus(); }, std::move(on_end));
  call->Attach(loop.Start(std::move(req), std::move(sink)));
  return call;
}

}  // namespace dkd::core

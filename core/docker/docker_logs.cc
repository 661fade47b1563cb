// DockerManager's container logs and engine events, blocking and async.
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/docker/docker_internal.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_streams.h"

namespace dkd::core {
namespace {

using internal::ValidateContainerRef;

// The engine options for `r`'s logs; InvalidArgument naming the field.
absl::StatusOr<LogsOptions> LogsOptionsFor(const LogsRequest& r) {
  RETURN_IF_ERROR(ValidateContainerRef("id", r.id));
  if (r.tail.has_value() && *r.tail < 0) {
    return absl::InvalidArgumentError("tail: must not be negative");
  }
  if (r.since < 0 || r.until < 0) {
    return absl::InvalidArgumentError("since/until: must be seconds since the epoch");
  }
  LogsOptions o;
  o.id = r.id;
  o.stdout_stream = r.stdout_stream;
  o.stderr_stream = r.stderr_stream;
  o.follow = r.follow;
  o.timestamps = r.timestamps;
  o.tail = r.tail;
  o.since = r.since;
  o.until = r.until;
  return o;
}

// Turns the engine's log frames into chunks: lines of a TTY's console, or
// the stdout/stderr frames, with the engine's timestamps split off.
class LogDecoder {
 public:
  using Emit = std::function<bool(LogChunk chunk)>;
  LogDecoder(bool tty, bool timestamps) : tty_(tty), timestamps_(timestamps) {}

  // `emit` returning false stops decoding with Cancelled.
  absl::Status Feed(const LogFrame& frame, const Emit& emit) {
    if (tty_) {
      const bool more = lines_.Feed(frame.data, [&](absl::string_view l) {
        return Chunk(LogChunk::Stream::kConsole, absl::StrCat(l, "\n"), emit);
      });
      return more ? absl::OkStatus() : absl::CancelledError("stream consumer stopped");
    }
    const bool more = Chunk(frame.stream == LogFrame::Stream::kStderr ? LogChunk::Stream::kStderr
                                                                      : LogChunk::Stream::kStdout,
                            frame.data, emit);
    return more ? absl::OkStatus() : absl::CancelledError("stream consumer stopped");
  }
  // The body ended: a TTY's last line without newline.
  absl::Status Finish(const Emit& emit) {
    if (!tty_) return absl::OkStatus();
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
};

absl::StatusOr<EventsOptions> EventsOptionsFor(const EventsRequest& r) {
  EventsOptions o;
  for (size_t i = 0; i < r.filters.size(); ++i) {
    const std::string& f = r.filters[i];
    const size_t eq = f.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("filters[", i, "]: must be key=value, e.g. type=container"));
    }
    o.filters[f.substr(0, eq)].push_back(f.substr(eq + 1));
  }
  if (r.since < 0 || r.until < 0) {
    return absl::InvalidArgumentError("since/until: must be seconds since the epoch");
  }
  o.since = r.since;
  o.until = r.until;
  return o;
}

}  // namespace

absl::Status DockerManager::Logs(const LogsRequest& r, const LogCallback& on_chunk,
                                 CancelToken* cancel) {
  ASSIGN_OR_RETURN(LogsOptions options, LogsOptionsFor(r));
  ASSIGN_OR_RETURN(ContainerDetails info, InspectContainer(r.id));
  LogDecoder decoder(info.tty, r.timestamps);
  const LogDecoder::Emit emit = [&](LogChunk c) { return on_chunk(c); };
  absl::Status decode_status;
  RETURN_IF_ERROR(engine_->ContainerLogs(
      options, info.tty,
      [&](const LogFrame& f) {
        decode_status = decoder.Feed(f, emit);
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
  ASSIGN_OR_RETURN(LogsOptions options, LogsOptionsFor(r));
  std::shared_ptr<AsyncCall> call = engine_->NewAsyncCall();
  DockerEngine* engine = engine_.get();
  const bool timestamps = r.timestamps;
  const std::string id = r.id;
  // The inspect tells the framing (TTY or not) and the owner; then the logs.
  engine_->InspectContainerAsync(
      call, id,
      [engine, call, options, reader, timestamps, id, on_chunk = std::move(on_chunk),
       on_end = std::move(on_end)](absl::StatusOr<ContainerDetails> info) mutable {
        if (!info.ok()) {
          on_end(info.status());
          return;
        }
        if (reader.enforced && OwnerOf(info->labels) != reader.identity) {
          on_end(absl::NotFoundError(absl::StrCat("No such container: ", id)));
          return;
        }
        if (call->cancelled()) {
          on_end(absl::CancelledError("request cancelled"));
          return;
        }
        auto decoder = std::make_shared<LogDecoder>(info->tty, timestamps);
        engine->ContainerLogsAsync(
            call, options, info->tty,
            [decoder, on_chunk](LogFrame frame) {
              bool want_more = true;
              (void)decoder->Feed(frame, [&](LogChunk c) {
                if (!on_chunk(std::move(c))) want_more = false;
                return true;  // Whole reads are decoded; pausing stops the next one.
              });
              return want_more;
            },
            [decoder, on_chunk, on_end = std::move(on_end)](absl::Status status) {
              if (status.ok()) {
                status = decoder->Finish([&](LogChunk c) {
                  on_chunk(std::move(c));
                  return true;
                });
              }
              on_end(std::move(status));
            });
      });
  return call;
}

absl::Status DockerManager::Events(const EventsRequest& r, const EventCallback& on_event,
                                   CancelToken* cancel) {
  ASSIGN_OR_RETURN(EventsOptions options, EventsOptionsFor(r));
  return engine_->Events(options, nullptr, on_event, cancel);
}

absl::StatusOr<std::shared_ptr<AsyncCall>> DockerManager::EventsAsync(const EventsRequest& r,
                                                                      AsyncEventCallback on_event,
                                                                      EndCallback on_end) {
  ASSIGN_OR_RETURN(EventsOptions options, EventsOptionsFor(r));
  std::shared_ptr<AsyncCall> call = engine_->NewAsyncCall();
  engine_->EventsAsync(call, options, std::move(on_event), std::move(on_end));
  return call;
}

}  // namespace dkd::core

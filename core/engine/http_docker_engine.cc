// HttpDockerEngine: the Docker Engine API requests behind each typed call.
#include "core/engine/http_docker_engine.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/engine/engine_json.h"

namespace dkd::core {
namespace {

// Calls that are legitimately silent until something happens.
constexpr absl::Duration kForever = absl::Hours(24 * 365);

std::string ImagePath(const std::string& image, absl::string_view suffix = "") {
  return absl::StrCat("/images/", UrlEncode(image), suffix);
}

// The longest JSON message of a build, push or pull stream. BuildKit batches
// its trace: with its step-log limits raised, one message can carry several
// MiB of log lines (base64 inside JSON).
constexpr size_t kMaxMessageLine = 64 << 20;

// Splits a JSON-message body into messages. Not thread-safe.
class MessageDecoder {
 public:
  explicit MessageDecoder(std::function<bool(const JsonMessage&)> on_message)
      : on_message_(std::move(on_message)) {}
  // False when `on_message` wants no more or a message is malformed.
  bool Feed(absl::string_view data) {
    return lines_.Feed(data, [this](absl::string_view l) { return Line(l); });
  }
  // Delivers a last line without newline.
  void Finish() {
    lines_.Finish([this](absl::string_view l) { return Line(l); });
  }
  const absl::Status& status() const { return status_; }

 private:
  bool Line(absl::string_view line) {
    if (line.size() >= kMaxMessageLine) {
      status_ = absl::ResourceExhaustedError(
          absl::StrCat("the Docker Engine sent a JSON message of over ", kMaxMessageLine >> 20,
                       " MiB; dkd reads none that long"));
      return false;
    }
    JsonMessage m;
    if (absl::Status s = ParseJsonMessage(line, m); !s.ok()) {
      status_ = s;
      return false;
    }
    return on_message_(m);
  }
  std::function<bool(const JsonMessage&)> on_message_;
  LineSplitter lines_{kMaxMessageLine};
  absl::Status status_;
};

// Feeds an async stream's body to a decoder. An item callback that wants no
// more pauses the stream; a decoding error cancels it and becomes the
// stream's end status.
class DecodingSink final : public StreamSink {
 public:
  using Decode = std::function<absl::Status(absl::string_view data, bool* want_more)>;
  using Finish = std::function<absl::Status()>;
  DecodingSink(std::shared_ptr<AsyncCall> call, Decode decode, Finish finish,
               DockerEngine::EndCallback on_end)
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
  DockerEngine::EndCallback on_end_;
  absl::Status error_;
};

}  // namespace

std::string ContainerApiPath(const std::string& id, absl::string_view suffix) {
  std::string name = id;
  if (absl::StartsWith(name, "/")) name = name.substr(1);
  return absl::StrCat("/containers/", UrlEncode(name), suffix);
}

HttpDockerEngine::HttpDockerEngine(std::shared_ptr<EngineClient> client)
    : client_(std::move(client)) {}

HttpDockerEngine::~HttpDockerEngine() {
  // Ending the loop ends its requests, whose callbacks may reach back here:
  // not under the lock.
  std::unique_ptr<EngineStreamLoop> loop;
  {
    absl::MutexLock lock(&mu_);
    loop = std::move(loop_);
  }
  loop.reset();
}

EngineStreamLoop& HttpDockerEngine::stream_loop() {
  absl::MutexLock lock(&mu_);
  if (!loop_) loop_ = std::make_unique<EngineStreamLoop>(client_.get());
  return *loop_;
}

absl::Duration HttpDockerEngine::response_timeout() const { return client_->response_timeout(); }

absl::Status HttpDockerEngine::Ping() { return client_->Ping(); }

absl::StatusOr<EngineVersion> HttpDockerEngine::Version() { return client_->Version(); }

std::string HttpDockerEngine::ApiVersion() const { return client_->ApiVersion(); }

absl::StatusOr<EnginePing> HttpDockerEngine::LastPing() { return client_->LastPing(); }

absl::StatusOr<EngineInfo> HttpDockerEngine::Info() {
  EngineRequest req;
  req.path = "/info";
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeEngineInfo(j);
}

absl::StatusOr<std::vector<ContainerSummary>> HttpDockerEngine::ListContainers(
    const ContainerListOptions& o) {
  EngineRequest req;
  req.path = "/containers/json";
  if (o.all) req.query.emplace_back("all", "1");
  if (o.limit > 0) req.query.emplace_back("limit", std::to_string(o.limit));
  const std::string filters = EncodeFilters(o.filters);
  if (filters != "{}") req.query.emplace_back("filters", filters);
  ASSIGN_OR_RETURN(EngineResponse res, client_->Call(req));
  return DecodeContainerList(res.body, o.mounts);
}

absl::StatusOr<ContainerDetails> HttpDockerEngine::InspectContainer(const std::string& id) {
  EngineRequest req;
  req.path = ContainerApiPath(id, "/json");
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeContainerDetails(j);
}

absl::StatusOr<CreatedContainer> HttpDockerEngine::CreateContainer(const std::string& name,
                                                                   const std::string& config) {
  EngineRequest req;
  req.method = "POST";
  req.path = "/containers/create";
  req.query.emplace_back("name", name);
  req.body = config;
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeCreatedContainer(j);
}

absl::Status HttpDockerEngine::StartContainer(const std::string& id) {
  EngineRequest req;
  req.method = "POST";
  req.path = ContainerApiPath(id, "/start");
  return client_->Call(req).status();
}

absl::StatusOr<bool> HttpDockerEngine::StopContainer(const std::string& id,
                                                     std::optional<int> timeout) {
  EngineRequest req;
  req.method = "POST";
  req.path = ContainerApiPath(id, "/stop");
  if (timeout.has_value()) req.query.emplace_back("t", std::to_string(*timeout));
  // Silent for the stop grace (-1: no limit), then prompt (core/engine/engine_client.h).
  const int grace = timeout.value_or(10);
  req.read_timeout = grace < 0 ? kForever : absl::Seconds(grace) + client_->response_timeout();
  ASSIGN_OR_RETURN(EngineResponse res, client_->Call(req));
  return res.status == 304;
}

absl::Status HttpDockerEngine::RemoveContainer(const std::string& id, bool force, bool volumes) {
  EngineRequest req;
  req.method = "DELETE";
  req.path = ContainerApiPath(id);
  if (force) req.query.emplace_back("force", "1");
  if (volumes) req.query.emplace_back("v", "1");
  return client_->Call(req).status();
}

absl::StatusOr<WaitResult> HttpDockerEngine::WaitContainer(const std::string& id,
                                                           const std::string& condition,
                                                           CancelToken* cancel) {
  EngineRequest req;
  req.method = "POST";
  req.path = ContainerApiPath(id, "/wait");
  if (!condition.empty()) req.query.emplace_back("condition", condition);
  req.read_timeout = kForever;
  std::string body;
  RETURN_IF_ERROR(client_->Stream(
      req,
      [&body](absl::string_view d) {
        body.append(d.data(), d.size());
        return body.size() < (1 << 20);
      },
      cancel));
  return DecodeWaitResult(body);
}

EngineRequest HttpDockerEngine::LogsRequest(const LogsOptions& o) {
  EngineRequest req;
  req.path = ContainerApiPath(o.id, "/logs");
  const bool both = !o.stdout_stream && !o.stderr_stream;
  req.query = {{"stdout", (both || o.stdout_stream) ? "1" : "0"},
               {"stderr", (both || o.stderr_stream) ? "1" : "0"}};
  if (o.follow) req.query.emplace_back("follow", "1");
  if (o.timestamps) req.query.emplace_back("timestamps", "1");
  req.query.emplace_back("tail", o.tail.has_value() ? std::to_string(*o.tail) : "all");
  if (o.since > 0) req.query.emplace_back("since", std::to_string(o.since));
  if (o.until > 0) req.query.emplace_back("until", std::to_string(o.until));
  // Silent until the container prints (core/engine/engine_client.h).
  req.read_timeout = kForever;
  return req;
}

absl::Status HttpDockerEngine::ContainerLogs(const LogsOptions& o, bool tty,
                                             const FrameCallback& on_frame, CancelToken* cancel) {
  LogFrameDecoder frames;
  absl::Status decode_status;
  RETURN_IF_ERROR(client_->Stream(
      LogsRequest(o),
      [&](absl::string_view d) {
        if (tty) return on_frame(LogFrame{LogFrame::Stream::kConsole, std::string(d)});
        decode_status = frames.Feed(d, [&](LogFrameDecoder::Stream s, absl::string_view p) {
          return on_frame(LogFrame{s == LogFrameDecoder::Stream::kStderr
                                       ? LogFrame::Stream::kStderr
                                       : LogFrame::Stream::kStdout,
                                   std::string(p)});
        });
        return decode_status.ok();
      },
      cancel));
  if (!decode_status.ok() && !absl::IsCancelled(decode_status)) return decode_status;
  return tty ? absl::OkStatus() : frames.Finish();
}

absl::StatusOr<std::vector<ImageSummary>> HttpDockerEngine::ListImages(const ImageListOptions& o) {
  EngineRequest req;
  req.path = "/images/json";
  if (o.all) req.query.emplace_back("all", "1");
  const std::string filters = EncodeFilters(o.filters);
  if (filters != "{}") req.query.emplace_back("filters", filters);
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeImageList(j);
}

absl::StatusOr<ImageDetails> HttpDockerEngine::InspectImage(const std::string& image) {
  EngineRequest req;
  req.path = ImagePath(image, "/json");
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeImageDetails(j);
}

absl::StatusOr<std::vector<ImageHistoryEntry>> HttpDockerEngine::ImageHistory(
    const std::string& image) {
  EngineRequest req;
  req.path = ImagePath(image, "/history");
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeImageHistory(j);
}

absl::StatusOr<RemoveImageResult> HttpDockerEngine::RemoveImage(const std::string& image,
                                                                bool force, bool no_prune) {
  EngineRequest req;
  req.method = "DELETE";
  req.path = ImagePath(image);
  if (force) req.query.emplace_back("force", "1");
  if (no_prune) req.query.emplace_back("noprune", "1");
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeRemoveImage(j);
}

absl::Status HttpDockerEngine::TagImage(const std::string& image, const std::string& repo,
                                        const std::string& tag) {
  EngineRequest req;
  req.method = "POST";
  req.path = ImagePath(image, "/tag");
  req.query.emplace_back("repo", repo);
  if (!tag.empty()) req.query.emplace_back("tag", tag);
  return client_->Call(req).status();
}

absl::Status HttpDockerEngine::Messages(const EngineRequest& request,
                                        const MessageCallback& on_message, CancelToken* cancel) {
  MessageDecoder messages(on_message);
  absl::Status s = client_->Stream(
      request, [&](absl::string_view d) { return messages.Feed(d); }, cancel);
  messages.Finish();
  // A message dkd could not read stopped the stream: that is the cause.
  RETURN_IF_ERROR(messages.status());
  return s;
}

EngineRequest HttpDockerEngine::BuildRequest(const BuildOptions& o) {
  EngineRequest req;
  req.method = "POST";
  req.path = "/build";
  for (const auto& t : o.tags) req.query.emplace_back("t", t);
  if (!o.build_args.empty())
    req.query.emplace_back("buildargs", nlohmann::json(o.build_args).dump());
  if (!o.labels.empty()) req.query.emplace_back("labels", nlohmann::json(o.labels).dump());
  if (!o.target.empty()) req.query.emplace_back("target", o.target);
  if (o.no_cache) req.query.emplace_back("nocache", "1");
  if (o.pull) req.query.emplace_back("pull", "1");
  req.query.emplace_back("rm", "1");
  req.query.emplace_back("forcerm", "1");
  req.headers.emplace_back("X-Registry-Config", o.registry_config);
  req.content_type = "application/x-tar";
  // A RUN step may print nothing for long (core/engine/engine_client.h).
  req.read_timeout = absl::Hours(24);
  req.query.emplace_back("dockerfile", o.dockerfile);
  if (o.buildkit) {
    req.query.emplace_back("version", "2");
    req.query.emplace_back("buildid", o.build_id);
    if (!o.session_id.empty()) req.query.emplace_back("session", o.session_id);
    if (o.context_from_session) req.query.emplace_back("remote", "client-session");
  }
  if (!o.platform.empty()) req.query.emplace_back("platform", o.platform);
  if (!o.cache_from.empty()) {
    req.query.emplace_back("cachefrom", nlohmann::json(o.cache_from).dump());
  }
  return req;
}

absl::Status HttpDockerEngine::CancelBuild(const std::string& build_id) {
  EngineRequest req;
  req.method = "POST";
  req.path = "/build/cancel";
  req.query.emplace_back("id", build_id);
  return client_->Call(req).status();
}

absl::Status HttpDockerEngine::Build(const BuildOptions& o, const BodyReader& context,
                                     const MessageCallback& on_message, CancelToken* cancel) {
  EngineRequest req = BuildRequest(o);
  req.body_reader = context;
  return Messages(req, on_message, cancel);
}

EngineRequest HttpDockerEngine::PushRequest(const PushOptions& o) {
  EngineRequest req;
  req.method = "POST";
  req.path = ImagePath(o.name, "/push");
  req.query.emplace_back("tag", o.tag);
  req.headers.emplace_back("X-Registry-Auth", o.auth_header);
  // A large layer may take long between progress lines (core/engine/engine_client.h).
  req.read_timeout = absl::Hours(6);
  return req;
}

absl::Status HttpDockerEngine::Push(const PushOptions& o, const MessageCallback& on_message,
                                    CancelToken* cancel) {
  return Messages(PushRequest(o), on_message, cancel);
}

EngineRequest HttpDockerEngine::PullRequest(const PullOptions& o) {
  EngineRequest req;
  req.method = "POST";
  req.path = "/images/create";
  req.query.emplace_back("fromImage", o.from_image);
  req.query.emplace_back("tag", o.tag);
  if (!o.platform.empty()) req.query.emplace_back("platform", o.platform);
  req.headers.emplace_back("X-Registry-Auth", o.auth_header);
  req.read_timeout = absl::Hours(6);
  return req;
}

absl::Status HttpDockerEngine::Pull(const PullOptions& o, const MessageCallback& on_message,
                                    CancelToken* cancel) {
  return Messages(PullRequest(o), on_message, cancel);
}

absl::Status HttpDockerEngine::ExportImage(const std::string& image, const DataCallback& on_data,
                                           CancelToken* cancel) {
  EngineRequest req;
  req.path = ImagePath(image, "/get");
  // The engine prepares the tar before the first byte.
  req.read_timeout = absl::Minutes(10);
  return client_->Stream(req, on_data, cancel);
}

absl::StatusOr<NetworkDetails> HttpDockerEngine::InspectNetwork(const std::string& name) {
  EngineRequest req;
  req.path = absl::StrCat("/networks/", UrlEncode(name));
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeNetwork(j);
}

absl::Status HttpDockerEngine::ConnectNetwork(const std::string& network,
                                              const std::string& container) {
  EngineRequest req;
  req.method = "POST";
  req.path = absl::StrCat("/networks/", UrlEncode(network), "/connect");
  req.body = nlohmann::json{{"Container", container}}.dump();
  return client_->Call(req).status();
}

absl::StatusOr<VolumeDetails> HttpDockerEngine::InspectVolume(const std::string& name) {
  EngineRequest req;
  req.path = absl::StrCat("/volumes/", UrlEncode(name));
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeVolume(j);
}

absl::StatusOr<VolumeDetails> HttpDockerEngine::CreateVolume(
    const std::string& name, const std::map<std::string, std::string>& labels) {
  EngineRequest req;
  req.method = "POST";
  req.path = "/volumes/create";
  req.body = nlohmann::json{{"Name", name}, {"Labels", labels}}.dump();
  ASSIGN_OR_RETURN(nlohmann::json j, client_->CallJson(req));
  return DecodeVolume(j);
}

EngineRequest HttpDockerEngine::EventsRequest(const EventsOptions& o) {
  EngineRequest req;
  req.path = "/events";
  if (o.since > 0) req.query.emplace_back("since", std::to_string(o.since));
  if (o.until > 0) req.query.emplace_back("until", std::to_string(o.until));
  const std::string filters = EncodeFilters(o.filters);
  if (filters != "{}") req.query.emplace_back("filters", filters);
  req.read_timeout = kForever;
  return req;
}

absl::Status HttpDockerEngine::Events(const EventsOptions& o, const std::function<void()>& on_open,
                                      const EventCallback& on_event, CancelToken* cancel) {
  EngineRequest req = EventsRequest(o);
  if (on_open) {
    req.on_headers = [&on_open](int status) {
      if (status == 200) on_open();
    };
  }
  LineSplitter lines;
  absl::Status parse_status;
  auto on_line = [&](absl::string_view line) {
    absl::StatusOr<EngineEvent> e = DecodeEvent(line);
    if (!e.ok()) {
      parse_status = e.status();
      return false;
    }
    return on_event(*e);
  };
  absl::Status s = client_->Stream(
      req, [&](absl::string_view d) { return lines.Feed(d, on_line); }, cancel);
  RETURN_IF_ERROR(parse_status);
  return s;
}

std::shared_ptr<AsyncCall> HttpDockerEngine::NewAsyncCall() {
  return std::make_shared<AsyncCall>(&stream_loop());
}

void HttpDockerEngine::InspectContainerAsync(
    const std::shared_ptr<AsyncCall>& call, const std::string& id,
    std::function<void(absl::StatusOr<ContainerDetails>)> done) {
  EngineRequest req;
  req.path = ContainerApiPath(id, "/json");
  call->Attach(stream_loop().Call(std::move(req), [done = std::move(done)](
                                                      absl::StatusOr<EngineResponse> res) {
    if (!res.ok()) return done(res.status());
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded()) {
      return done(absl::InternalError("engine returned malformed JSON for the container inspect"));
    }
    done(DecodeContainerDetails(j));
  }));
}

void HttpDockerEngine::ContainerLogsAsync(const std::shared_ptr<AsyncCall>& call,
                                          const LogsOptions& o, bool tty,
                                          std::function<bool(LogFrame frame)> on_frame,
                                          EndCallback on_end) {
  auto frames = std::make_shared<LogFrameDecoder>();
  auto sink = std::make_shared<DecodingSink>(
      call,
      [frames, tty, on_frame](absl::string_view d, bool* want_more) {
        if (tty) {
          if (!on_frame(LogFrame{LogFrame::Stream::kConsole, std::string(d)})) *want_more = false;
          return absl::OkStatus();
        }
        return frames->Feed(d, [&](LogFrameDecoder::Stream s, absl::string_view p) {
          LogFrame f{s == LogFrameDecoder::Stream::kStderr ? LogFrame::Stream::kStderr
                                                           : LogFrame::Stream::kStdout,
                     std::string(p)};
          if (!on_frame(std::move(f))) *want_more = false;
          return true;  // Whole reads are decoded; pausing stops the next one.
        });
      },
      [frames, tty] { return tty ? absl::OkStatus() : frames->Finish(); }, std::move(on_end));
  call->Attach(stream_loop().Start(LogsRequest(o), std::move(sink)));
}

void HttpDockerEngine::EventsAsync(const std::shared_ptr<AsyncCall>& call, const EventsOptions& o,
                                   std::function<bool(EngineEvent event)> on_event,
                                   EndCallback on_end) {
  auto lines = std::make_shared<LineSplitter>();
  auto sink = std::make_shared<DecodingSink>(
      call,
      [lines, on_event = std::move(on_event)](absl::string_view d, bool* want_more) {
        absl::Status parse_status;
        lines->Feed(d, [&](absl::string_view line) {
          absl::StatusOr<EngineEvent> e = DecodeEvent(line);
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
  call->Attach(stream_loop().Start(EventsRequest(o), std::move(sink)));
}

void HttpDockerEngine::StartMessages(const std::shared_ptr<AsyncCall>& call, EngineRequest request,
                                     std::function<bool(const JsonMessage& message)> on_message,
                                     EndCallback on_end) {
  auto want_more = std::make_shared<bool>(true);
  auto messages = std::make_shared<MessageDecoder>([want_more, on_message](const JsonMessage& m) {
    if (!on_message(m)) *want_more = false;
    return true;  // Whole reads are decoded; pausing stops the next one.
  });
  auto sink = std::make_shared<DecodingSink>(
      call,
      [messages, want_more](absl::string_view d, bool* more) {
        *want_more = true;
        messages->Feed(d);
        *more = *want_more;
        return messages->status();
      },
      [messages] {
        messages->Finish();
        return messages->status();
      },
      std::move(on_end));
  call->Attach(stream_loop().Start(std::move(request), std::move(sink)));
}

void HttpDockerEngine::PushAsync(const std::shared_ptr<AsyncCall>& call, const PushOptions& o,
                                 std::function<bool(const JsonMessage& message)> on_message,
                                 EndCallback on_end) {
  StartMessages(call, PushRequest(o), std::move(on_message), std::move(on_end));
}

void HttpDockerEngine::PullAsync(const std::shared_ptr<AsyncCall>& call, const PullOptions& o,
                                 std::function<bool(const JsonMessage& message)> on_message,
                                 EndCallback on_end) {
  StartMessages(call, PullRequest(o), std::move(on_message), std::move(on_end));
}

}  // namespace dkd::core

// EngineStreamLoop (engine_stream_loop.h): the epoll thread, its commands,
// connections and their timeouts, and TLS requests on a thread each.
#include "core/engine/engine_stream_loop.h"

#include <netdb.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "core/base/fd_limit.h"
#include "core/engine/http_response_reader.h"
#include "spdlog/spdlog.h"

namespace dkd::core {
namespace {

// Most bytes of an error body kept for the message.
constexpr size_t kMaxErrorBody = 64 * 1024;
// Reads per readiness event before other sockets get their turn.
constexpr int kReadsPerEvent = 4;
constexpr size_t kReadBuffer = 64 * 1024;

std::string Seconds(absl::Duration d) {
  const double s = absl::ToDoubleSeconds(d);
  return s == static_cast<double>(static_cast<int64_t>(s)) ? absl::StrCat(static_cast<int64_t>(s))
                                                           : absl::StrFormat("%.1f", s);
}

// Buffers a whole answer for EngineStreamLoop::Call.
class CallSink final : public StreamSink {
 public:
  CallSink(std::function<void(absl::StatusOr<EngineResponse>)> done, size_t max_body)
      : done_(std::move(done)), max_body_(max_body) {}
  bool OnData(absl::string_view data) override {
    if (body_.size() + data.size() > max_body_) {
      too_big_ = true;
    } else {
      body_.append(data.data(), data.size());
    }
    return true;
  }
  void OnEnd(absl::Status status) override {
    if (status.ok() && too_big_) {
      status = absl::ResourceExhaustedError(
          absl::StrCat("the Docker Engine's answer is larger than ", max_body_, " bytes"));
    }
    if (!status.ok()) {
      done_(status);
    } else {
      done_(EngineResponse{status_, std::move(body_)});
    }
  }
  void set_status(int status) { status_ = status; }

 private:
  std::function<void(absl::StatusOr<EngineResponse>)> done_;
  const size_t max_body_;
  std::string body_;
  bool too_big_ = false;
  int status_ = 200;
};

}  // namespace

struct EngineStreamLoop::Conn {
  Id id = 0;
  EngineRequest request;
  std::shared_ptr<StreamSink> sink;
  CallSink* call_sink = nullptr;  // Set for Call(): learns the HTTP status.
  bool versioned = true;
  // Another request waits for this one (a /_ping) to negotiate the version.
  Id then = 0;

  enum class Phase { kWaitVersion, kConnecting, kWriting, kReading } phase = Phase::kWaitVersion;
  int fd = -1;
  bool watched = false;
  bool paused = false;
  std::string out;
  size_t out_off = 0;
  HttpResponseReader reader;
  bool head_seen = false;
  std::string error_body;
  absl::Time last_activity = absl::Now();
  absl::Duration timeout;

  explicit Conn(bool no_body) : reader(no_body) {}
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
  bool ok_status() const { return reader.head().status >= 200 && reader.head().status < 300; }
};

struct EngineStreamLoop::Blocking {
  CancelToken cancel;
  absl::Mutex mu;
  bool paused ABSL_GUARDED_BY(mu) = false;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  static bool Unpaused(Blocking* b) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return !b->paused || b->cancelled;
  }
};

EngineStreamLoop::EngineStreamLoop(EngineClient* engine) : engine_(engine) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    spdlog::critical("engine stream loop: cannot create epoll/eventfd: {}", std::strerror(errno));
  } else {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = 0;  // Id 0: the wake-up descriptor.
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  }
  thread_ = std::thread([this] { Run(); });
}

EngineStreamLoop::~EngineStreamLoop() {
  std::vector<std::shared_ptr<Blocking>> blocking;
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    for (auto& [id, b] : blocking_) blocking.push_back(b);
  }
  for (auto& b : blocking) {
    {
      absl::MutexLock lock(&b->mu);
      b->cancelled = true;
    }
    b->cancel.Cancel();
  }
  if (wake_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof(one));
  }
  thread_.join();
  {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(
        +[](std::map<Id, std::shared_ptr<Blocking>>* m) { return m->empty(); }, &blocking_));
  }
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

EngineStreamLoop::Id EngineStreamLoop::Start(EngineRequest request,
                                             std::shared_ptr<StreamSink> sink) {
  auto conn = std::make_unique<Conn>(request.method == "HEAD");
  conn->request = std::move(request);
  conn->sink = std::move(sink);
  return StartConn(std::move(conn));
}

EngineStreamLoop::Id EngineStreamLoop::StartConn(std::unique_ptr<Conn> conn) {
  conn->timeout = conn->request.read_timeout.value_or(engine_->response_timeout());
  Id id;
  {
    absl::MutexLock lock(&mu_);
    id = next_id_++;
    ++active_;
  }
  conn->id = id;
  if (engine_->address().scheme == EngineAddress::Scheme::kTcp && engine_->address().tls) {
    StartBlocking(std::move(conn));
  } else {
    Post(Command{Command::Kind::kStart, id, std::move(conn)});
  }
  return id;
}

EngineStreamLoop::Id EngineStreamLoop::Call(
    EngineRequest request, std::function<void(absl::StatusOr<EngineResponse>)> done,
    size_t max_body) {
  auto conn = std::make_unique<Conn>(request.method == "HEAD");
  conn->request = std::move(request);
  auto sink = std::make_shared<CallSink>(std::move(done), max_body);
  conn->call_sink = sink.get();
  conn->sink = std::move(sink);
  return StartConn(std::move(conn));
}

void EngineStreamLoop::Resume(Id id) { Post(Command{Command::Kind::kResume, id, nullptr}); }
void EngineStreamLoop::Cancel(Id id) { Post(Command{Command::Kind::kCancel, id, nullptr}); }

size_t EngineStreamLoop::active() const {
  absl::MutexLock lock(&mu_);
  return active_;
}

void EngineStreamLoop::Post(Command c) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = blocking_.find(c.id); it != blocking_.end() && c.kind != Command::Kind::kStart) {
      std::shared_ptr<Blocking> b = it->second;
      absl::MutexLock block(&b->mu);
      if (c.kind == Command::Kind::kResume) {
        b->paused = false;
      } else {
        b->cancelled = true;
        b->cancel.Cancel();
      }
      return;
    }
    commands_.push_back(std::move(c));
  }
  const uint64_t one = 1;
  (void)!::write(wake_fd_, &one, sizeof(one));
}

void EngineStreamLoop::Run() {
  std::vector<epoll_event> events(256);
  absl::Time last_expiry = absl::Now();
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), 250);
    if (n < 0 && errno != EINTR) {
      spdlog::error("engine stream loop: epoll_wait: {}", std::strerror(errno));
    }
    for (int i = 0; i < n; ++i) {
      const Id id = events[i].data.u64;
      if (id == 0) {
        uint64_t count;
        (void)!::read(wake_fd_, &count, sizeof(count));
        continue;
      }
      auto it = conns_.find(id);
      if (it != conns_.end()) OnReady(*it->second, events[i].events);
    }
    HandleCommands();
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
    }
    if (absl::Now() - last_expiry >= absl::Milliseconds(100)) {
      last_expiry = absl::Now();
      ExpireIdle();
    }
  }
  std::vector<Id> ids;
  for (auto& [id, c] : conns_) ids.push_back(id);
  for (Id id : ids) End(id, absl::UnavailableError("dkd is shutting down"));
  HandleCommands();  // Starts posted after the stop: end them too.
  ids.clear();
  for (auto& [id, c] : conns_) ids.push_back(id);
  for (Id id : ids) End(id, absl::UnavailableError("dkd is shutting down"));
}

void EngineStreamLoop::HandleCommands() {
  std::vector<Command> commands;
  {
    absl::MutexLock lock(&mu_);
    commands.swap(commands_);
  }
  for (Command& c : commands) {
    switch (c.kind) {
      case Command::Kind::kStart:
        Begin(std::move(c.conn));
        break;
      case Command::Kind::kResume:
        if (auto it = conns_.find(c.id); it != conns_.end() && it->second->paused) {
          Conn& conn = *it->second;
          conn.paused = false;
          conn.last_activity = absl::Now();
          Watch(conn, EPOLLIN);
        }
        break;
      case Command::Kind::kCancel:
        if (conns_.count(c.id) != 0) End(c.id, absl::CancelledError("request cancelled"));
        break;
    }
  }
}

void EngineStreamLoop::Begin(std::unique_ptr<Conn> conn) {
  Conn& c = *conn;
  const Id id = c.id;
  conns_[id] = std::move(conn);
  if (c.request.body_reader) {
    End(id, absl::InvalidArgumentError("a streamed request body needs EngineClient::Stream"));
    return;
  }
  if (!c.versioned || !engine_->ApiVersion().empty()) {
    Connect(c);
    return;
  }
  // Negotiate first: a /_ping whose answer sets the version, then this one.
  auto ping = std::make_unique<Conn>(false);
  {
    absl::MutexLock lock(&mu_);
    ping->id = next_id_++;
    ++active_;
  }
  ping->request.path = "/_ping";
  ping->versioned = false;
  ping->then = id;
  ping->timeout = engine_->response_timeout();
  ping->sink = std::make_shared<CallSink>(
      [this, id](absl::StatusOr<EngineResponse> r) {
        auto it = conns_.find(id);
        if (it == conns_.end()) return;  // Cancelled meanwhile.
        if (!r.ok()) {
          End(id, r.status());
        } else {
          Connect(*it->second);
        }
      },
      4096);
  ping->call_sink = static_cast<CallSink*>(ping->sink.get());
  Conn& p = *ping;
  conns_[p.id] = std::move(ping);
  Connect(p);
}

void EngineStreamLoop::Connect(Conn& c) {
  const EngineAddress& a = engine_->address();
  const auto unreachable = [&](int err) {
    engine_->ForgetApiVersion();
    return absl::UnavailableError(absl::StrCat("Docker Engine is unreachable at ", a.ToString(),
                                               " (", std::strerror(err), ")"));
  };
  int fd = -1;
  int rc = -1;
  if (a.scheme == EngineAddress::Scheme::kUnix) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (a.socket_path.size() >= sizeof(sa.sun_path)) {
      Fail(c.id, absl::InvalidArgumentError(
                     absl::StrCat("engine socket path is too long: ", a.socket_path)));
      return;
    }
    std::memcpy(sa.sun_path, a.socket_path.data(), a.socket_path.size());
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      const int err = errno;
      Fail(c.id, IsFdExhaustion(err) ? FdExhaustedError(err, "connecting to the Docker Engine")
                                     : unreachable(err));
      return;
    }
    rc = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(a.port);
    if (::getaddrinfo(a.host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
      Fail(c.id,
           absl::UnavailableError(absl::StrCat("Docker Engine is unreachable at ", a.ToString(),
                                               " (cannot resolve ", a.host, ")")));
      return;
    }
    fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      const int err = errno;
      ::freeaddrinfo(res);
      Fail(c.id, IsFdExhaustion(err) ? FdExhaustedError(err, "connecting to the Docker Engine")
                                     : unreachable(err));
      return;
    }
    rc = ::connect(fd, res->ai_addr, res->ai_addrlen);
    ::freeaddrinfo(res);
  }
  c.fd = fd;
  if (rc != 0 && errno != EINPROGRESS) {
    Fail(c.id, unreachable(errno));
    return;
  }
  // The request, whole.
  std::string target = c.versioned ? engine_->RequestTarget(c.request) : [&] {
    std::string t = c.request.path;
    char sep = '?';
    for (const auto& [k, v] : c.request.query) {
      absl::StrAppend(&t, std::string(1, sep), UrlEncode(k), "=", UrlEncode(v));
      sep = '&';
    }
    return t;
  }();
  c.out = absl::StrCat(c.request.method, " ", target,
                       " HTTP/1.1\r\nHost: docker\r\nUser-Agent: dkd\r\n");
  for (const auto& [k, v] : c.request.headers) absl::StrAppend(&c.out, k, ": ", v, "\r\n");
  if (!c.request.body.empty() || c.request.method == "POST") {
    absl::StrAppend(&c.out, "Content-Type: ", c.request.content_type,
                    "\r\nContent-Length: ", c.request.body.size(), "\r\n");
  }
  absl::StrAppend(&c.out, "Connection: close\r\n\r\n", c.request.body);
  c.phase = rc == 0 ? Conn::Phase::kWriting : Conn::Phase::kConnecting;
  c.last_activity = absl::Now();
  if (!Watch(c, EPOLLOUT)) return;
  // Connected at once (a unix socket): write now rather than a turn later.
  // `c` may be gone after this.
  if (rc == 0) OnReady(c, EPOLLOUT);
}

bool EngineStreamLoop::Watch(Conn& c, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.id;
  if (events == 0) {
    if (c.watched) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
    c.watched = false;
    return true;
  }
  if (::epoll_ctl(epoll_fd_, c.watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c.fd, &ev) != 0) {
    const int err = errno;
    Fail(c.id, absl::InternalError(absl::StrCat("epoll_ctl: ", std::strerror(err))));
    return false;  // `c` is gone.
  }
  c.watched = true;
  return true;
}

void EngineStreamLoop::OnReady(Conn& c, uint32_t events) {
  const Id id = c.id;
  if (c.phase == Conn::Phase::kConnecting) {
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      engine_->ForgetApiVersion();
      Fail(id, absl::UnavailableError(absl::StrCat("Docker Engine is unreachable at ",
                                                   engine_->address().ToString(), " (",
                                                   std::strerror(err), ")")));
      return;
    }
    c.phase = Conn::Phase::kWriting;
  }
  if (c.phase == Conn::Phase::kWriting) {
    while (c.out_off < c.out.size()) {
      const ssize_t n =
          ::send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        engine_->ForgetApiVersion();
        Fail(id, absl::UnavailableError(
                     absl::StrCat("connection to the Docker Engine failed: ", std::strerror(err))));
        return;
      }
      c.out_off += static_cast<size_t>(n);
      c.last_activity = absl::Now();
    }
    std::string().swap(c.out);
    c.phase = Conn::Phase::kReading;
    c.last_activity = absl::Now();
    Watch(c, EPOLLIN);
    return;
  }
  if (c.phase != Conn::Phase::kReading || c.paused) return;
  (void)events;
  static thread_local std::string buffer(kReadBuffer, '\0');
  for (int round = 0; round < kReadsPerEvent; ++round) {
    const ssize_t n = ::recv(c.fd, buffer.data(), buffer.size(), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      Fail(id, absl::UnavailableError(
                   absl::StrCat("connection to the Docker Engine failed: ", std::strerror(err))));
      return;
    }
    c.last_activity = absl::Now();
    if (n == 0) {
      absl::Status s = c.reader.AtEof();
      if (!s.ok()) {
        Fail(id, absl::UnavailableError(
                     absl::StrCat("the Docker Engine at ", engine_->address().ToString(), " ",
                                  s.message(), " (", c.request.method, " ", c.request.path, ")")));
        return;
      }
      End(id, absl::OkStatus());
      return;
    }
    bool want_more = true;
    // The reader hands out body bytes only once the head is parsed, so the
    // head is noted (and on_headers called) before the first piece.
    const auto note_head = [&] {
      if (c.head_seen || !c.reader.has_head()) return;
      c.head_seen = true;
      if (c.request.on_headers) c.request.on_headers(c.reader.head().status);
    };
    absl::Status s = c.reader.Feed(
        absl::string_view(buffer.data(), static_cast<size_t>(n)), [&](absl::string_view piece) {
          note_head();
          if (c.ok_status()) {
            if (!c.sink->OnData(piece)) want_more = false;
          } else if (c.error_body.size() < kMaxErrorBody) {
            c.error_body.append(piece.data(),
                                std::min(piece.size(), kMaxErrorBody - c.error_body.size()));
          }
        });
    note_head();
    if (!s.ok()) {
      Fail(id, s);
      return;
    }
    if (c.reader.complete()) {
      End(id, absl::OkStatus());
      return;
    }
    if (!want_more) {
      c.paused = true;
      Watch(c, 0);
      return;
    }
  }
}

void EngineStreamLoop::Fail(Id id, absl::Status status) { End(id, std::move(status)); }

void EngineStreamLoop::End(Id id, absl::Status status) {
  auto it = conns_.find(id);
  if (it == conns_.end()) return;
  std::unique_ptr<Conn> conn = std::move(it->second);
  conns_.erase(it);
  if (conn->watched) ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, conn->fd, nullptr);
  {
    absl::MutexLock lock(&mu_);
    --active_;
  }
  if (status.ok() && conn->reader.has_head()) {
    const HttpResponseReader::Head& head = conn->reader.head();
    if (conn->then != 0 && conn->ok_status()) {
      engine_->AdoptApiVersion(head.Header("Api-Version"));
    }
    if (conn->call_sink != nullptr) conn->call_sink->set_status(head.status);
    if (!conn->ok_status() && !(head.status == 304 && conn->call_sink != nullptr)) {
      status = StatusFromEngineHttp(head.status, conn->error_body);
    }
  }
  if (conn->fd >= 0) {
    ::close(conn->fd);
    conn->fd = -1;
  }
  std::shared_ptr<StreamSink> sink = std::move(conn->sink);
  conn.reset();
  sink->OnEnd(std::move(status));
}

void EngineStreamLoop::ExpireIdle() {
  const absl::Time now = absl::Now();
  std::vector<std::pair<Id, absl::Status>> expired;
  for (auto& [id, c] : conns_) {
    if (c->paused || c->phase == Conn::Phase::kWaitVersion) continue;
    if (now - c->last_activity < c->timeout) continue;
    expired.emplace_back(
        id, absl::UnavailableError(
                absl::StrCat("the Docker Engine at ", engine_->address().ToString(),
                             " did not answer in ", Seconds(c->timeout), " s (", c->request.method,
                             " ", c->request.path, c->head_seen ? ", mid-response" : "",
                             "); it may be hung or overloaded (engine_response_timeout_seconds)")));
  }
  for (auto& [id, s] : expired) End(id, std::move(s));
}

void EngineStreamLoop::StartBlocking(std::unique_ptr<Conn> conn) {
  auto b = std::make_shared<Blocking>();
  const Id id = conn->id;
  {
    absl::MutexLock lock(&mu_);
    blocking_[id] = b;
  }
  std::shared_ptr<Conn> c(std::move(conn));
  std::thread([this, b, c, id] {
    absl::Status s;
    if (c->call_sink != nullptr) {
      auto r = engine_->Call(c->request);
      if (r.ok()) {
        c->call_sink->set_status(r->status);
        c->call_sink->OnData(r->body);
      }
      s = r.status();
    } else {
      s = engine_->Stream(
          c->request,
          [&](absl::string_view d) {
            if (!c->sink->OnData(d)) {
              absl::MutexLock lock(&b->mu);
              b->paused = true;
              b->mu.Await(absl::Condition(&Blocking::Unpaused, b.get()));
              return !b->cancelled;
            }
            return true;
          },
          &b->cancel);
      absl::MutexLock lock(&b->mu);
      if (b->cancelled && !s.ok()) s = absl::CancelledError("request cancelled");
    }
    c->sink->OnEnd(s);
    absl::MutexLock lock(&mu_);
    blocking_.erase(id);
    --active_;
  }).detach();
}

bool AsyncCall::Attach(EngineStreamLoop::Id id) {
  absl::MutexLock lock(&mu_);
  // Ids grow: a late Attach of an earlier request (an inspect whose answer
  // already started the logs) does not take the current one's place.
  if (id > current_) current_ = id;
  if (cancelled_ && loop_ != nullptr) loop_->Cancel(id);
  return !cancelled_;
}

void AsyncCall::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  if (loop_ == nullptr) {
    if (on_cancel_) on_cancel_();
  } else if (current_ != 0) {
    loop_->Cancel(current_);
  }
}

void AsyncCall::Resume() {
  absl::MutexLock lock(&mu_);
  if (loop_ == nullptr) {
    if (on_resume_) on_resume_();
  } else if (current_ != 0) {
    loop_->Resume(current_);
  }
}

bool AsyncCall::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

}  // namespace dkd::core

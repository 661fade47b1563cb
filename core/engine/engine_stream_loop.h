// EngineStreamLoop: serves many engine requests from one thread.
//
// A followed log or event stream spends its life waiting for the engine; a
// blocking read holds a thread for all of it (1,000 follows made 2,000
// threads). Here each request is a non-blocking socket in one epoll set, and
// one thread connects, writes the request, parses the response
// (HttpResponseReader) and hands the body to the request's sink as it
// arrives. A sink that cannot take more returns false: the loop stops reading
// that socket until Resume(), so back-pressure reaches the engine's TCP window
// instead of dkd's memory. Inactivity bounds are those of EngineClient
// (EngineRequest::read_timeout, else the client's response timeout) and do
// not run while a stream is paused by its reader.
//
// Engines reached over TLS are served the blocking way, one thread per
// request (EngineClient::Stream), with the same sink contract.
//
// Sinks run on the loop thread (for TLS engines, on the request's own
// thread), one call at a time per request: they must not block. OnEnd is called exactly
// once per started request, after which the sink is never called again.
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "core/engine/engine_client.h"

namespace dkd::core {

class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // A piece of the 2xx response body. Returns false to pause reading until
  // EngineStreamLoop::Resume.
  virtual bool OnData(absl::string_view data) = 0;
  // The end: OK at the end of the body; the mapped engine error for a non-2xx
  // answer (StatusFromEngineHttp); Cancelled after Cancel; Unavailable when
  // the engine is unreachable, hangs up mid-response or stays silent past the
  // inactivity bound; ResourceExhausted when dkd is out of descriptors.
  virtual void OnEnd(absl::Status status) = 0;
};

class EngineStreamLoop {
 public:
  using Id = uint64_t;

  explicit EngineStreamLoop(EngineClient* engine);
  // Ends every request with Unavailable and joins the thread.
  ~EngineStreamLoop();
  EngineStreamLoop(const EngineStreamLoop&) = delete;
  EngineStreamLoop& operator=(const EngineStreamLoop&) = delete;

  // Starts `request` (versioned path; the API version is negotiated first if
  // needed). Whole bodies only: a request with a body_reader ends with
  // InvalidArgument. The returned id is never 0.
  Id Start(EngineRequest request, std::shared_ptr<StreamSink> sink);
  // Sends `request` and calls `done` with the whole 2xx/304 answer (at most
  // `max_body` bytes, else ResourceExhausted) or the mapped error, on the
  // loop thread.
  Id Call(EngineRequest request, std::function<void(absl::StatusOr<EngineResponse>)> done,
          size_t max_body = 16 << 20);
  // Reading resumes for a paused request. No-op for an ended one.
  void Resume(Id id);
  // Ends `id` with Cancelled (closing its connection, so the engine abandons
  // the request) unless it has ended already.
  void Cancel(Id id);

  // Requests in progress (for tests and metrics).
  size_t active() const;

 private:
  struct Conn;
  struct Command {
    enum class Kind { kStart, kResume, kCancel } kind;
    Id id = 0;
    std::unique_ptr<Conn> conn;  // kStart.
  };

  Id StartConn(std::unique_ptr<Conn> conn);
  void Post(Command c);
  void Run();
  void HandleCommands();
  void Begin(std::unique_ptr<Conn> conn);
  void Connect(Conn& c);
  void OnReady(Conn& c, uint32_t events);
  void Fail(Id id, absl::Status status);
  void End(Id id, absl::Status status);
  // False when it failed and ended `c` (which is then gone).
  bool Watch(Conn& c, uint32_t events);
  void ExpireIdle();
  void StartBlocking(std::unique_ptr<Conn> conn);

  EngineClient* const engine_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Id next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<Command> commands_ ABSL_GUARDED_BY(mu_);
  size_t active_ ABSL_GUARDED_BY(mu_) = 0;

  // Loop thread only.
  std::map<Id, std::unique_ptr<Conn>> conns_;

  // Blocking requests (TLS engines): their threads, and their cancel tokens.
  struct Blocking;
  std::map<Id, std::shared_ptr<Blocking>> blocking_ ABSL_GUARDED_BY(mu_);
};

// A chain of engine requests that acts as one stream to its owner (for
// example an inspect, then the logs it decides): Cancel and Resume reach
// whichever request is current. Thread-safe.
//
// A stream served elsewhere (an in-memory engine in tests) passes its own
// cancel and resume hooks instead of a loop; they run under the call's lock.
class AsyncCall {
 public:
  explicit AsyncCall(EngineStreamLoop* loop) : loop_(loop) {}
  AsyncCall(std::function<void()> on_cancel, std::function<void()> on_resume)
      : loop_(nullptr), on_cancel_(std::move(on_cancel)), on_resume_(std::move(on_resume)) {}
  // Makes `id` the current request unless a later one is (ids grow); false
  // (and cancels `id`) when the call was cancelled before.
  bool Attach(EngineStreamLoop::Id id);
  void Cancel();
  void Resume();
  bool cancelled() const;

 private:
  EngineStreamLoop* const loop_;
  const std::function<void()> on_cancel_;
  const std::function<void()> on_resume_;
  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  EngineStreamLoop::Id current_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace dkd::core

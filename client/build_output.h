// BuildOutput: what `dkctl build` prints while a build runs, per --progress
// mode: plain (docker --progress=plain for BuildKit, the classic builder's
// log as it comes), tty (a compact view redrawn in place), quiet (the image
// id at the end) or rawjson (every BuildEvent as one line of protobuf JSON).
//
// Classic output (log text, pull and push progress) goes to `out` as
// `docker build` prints it; BuildKit progress, queue and context notices go to
// `err`, as docker prints them. The spec (and so no secret) is never printed:
// only events dkd sends. Thread-safe: events arrive on the library's reader
// thread while the context counter runs on the caller's.
#pragma once

#include <functional>
#include <memory>
#include <ostream>

#include "absl/time/time.h"
#include "client/build_flags.h"
#include "core/context/context_tar.h"
#include "dkd/v1/docker_manager.pb.h"

namespace dkd::client {

class BuildOutput {
 public:
  struct Options {
    // Where `err` is a terminal: the context counter is drawn only then.
    bool err_is_terminal = false;
    // The terminal's size, for kTty (lines are cut to fit; old steps are
    // left out when there are more than fit).
    int columns = 80;
    int rows = 24;
    // The clock kTty reads for running steps' durations and its redraw rate.
    std::function<absl::Time()> now = [] { return absl::Now(); };
  };
  // `mode` must be resolved (not kAuto). `out` and `err` outlive the result.
  static std::unique_ptr<BuildOutput> Create(ProgressMode mode, std::ostream& out,
                                             std::ostream& err, Options options);
  virtual ~BuildOutput() = default;

  // Every event of the build, in order.
  virtual void OnEvent(const dkd::v1::BuildEvent& event) = 0;
  // The context sent so far, after each chunk; then once, OnContextDone.
  virtual void OnContext(const core::ContextStats& stats) = 0;
  virtual void OnContextDone() = 0;
  // The build ended; `result` is null when it failed.
  virtual void Finish(const dkd::v1::BuildResult* result) = 0;
};

}  // namespace dkd::client

// BuildLeftovers: the classic builder's step containers of builds that the
// engine never finished, removed once the engine answers again.
//
// The classic builder runs each step in a container it names in the build
// output (" ---> Running in <id>") and removes it itself when the step ends
// (rm=1, forcerm=1), also when the build fails or is cancelled. Only when the
// engine dies mid-step is nobody left to remove it: after the engine restarts
// the container sits there, Exited. So dkd records the ids of each running
// build's step containers as the output names them, forgets them when the
// output says they were removed or the build ends normally, and when the
// engine connection broke under a build (Unavailable) keeps them as pending;
// Sweep() (run by the engine monitor whenever the engine answers) removes the
// pending ones.
//
// The ids are persisted in a small JSON state file as they are seen, so a dkd
// that died with its engine (or was restarted before the engine came back)
// removes them on its next start: Load() turns every id a previous process
// recorded into a pending one (that process's builds are over).
//
// Build output is not trusted: a RUN step can print " ---> Running in <id of
// someone else's container>". So the id is only acted upon when the engine
// connection broke under that build (or dkd itself died), and Sweep() removes
// a container only if it exists, is not running, was created from an image id
// (sha256:..., as step containers are, never a name), and was created between
// the build's start and the moment the output named it (give or take a few
// seconds). Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/engine/docker_engine.h"
#include "core/engine/engine_client.h"

namespace dkd::core {

// The container id named by one line of classic-builder output, e.g.
// " ---> Running in 3f2a9c1b7d4e" -> "3f2a9c1b7d4e"; "" for any other line.
// Ids are 12 to 64 lowercase hex digits.
std::string StepContainerStarted(absl::string_view line);
// As above for " ---> Removed intermediate container <id>" (and the older
// "Removing intermediate container <id>").
std::string StepContainerRemoved(absl::string_view line);

class BuildLeftovers {
 public:
  // `state_file` "" keeps the ids in memory only.
  BuildLeftovers(std::shared_ptr<DockerEngine> engine, std::string state_file);
  // Over the engine's HTTP API.
  BuildLeftovers(std::shared_ptr<EngineClient> engine, std::string state_file);
  // The leftovers recorded in `state_dir`/build-steps.json (the directory is
  // created if missing; "" keeps them in memory only), Load()ed.
  static std::shared_ptr<BuildLeftovers> Open(std::shared_ptr<DockerEngine> engine,
                                              const std::string& state_dir);
  ~BuildLeftovers();

  // Reads what an earlier dkd recorded; every id becomes pending. A missing
  // file is not an error; an unreadable or malformed one is logged, ignored
  // and replaced.
  absl::Status Load();

  // One build's view. Not thread-safe (a build's output is read by one
  // thread); End() may be called once, the destructor ends it as OK.
  class Build {
   public:
    ~Build();
    // Feeds one "stream" text of the build output (may hold several lines).
    void Observe(absl::string_view text);
    // The build's engine stream ended with `status`: Unavailable keeps the
    // step containers still open as pending; anything else forgets them.
    void End(const absl::Status& status);

   private:
    friend class BuildLeftovers;
    Build(BuildLeftovers* owner, uint64_t build_id) : owner_(owner), build_id_(build_id) {}
    BuildLeftovers* owner_;
    uint64_t build_id_;
    bool ended_ = false;
  };
  std::unique_ptr<Build> Begin();

  // Removes pending step containers that pass the checks above; drops those
  // that are gone or fail them. Engine errors keep an id for the next sweep.
  // Returns how many containers were removed.
  int Sweep();

  bool HasPending() const;
  // Ids pending removal (for tests and logs).
  std::vector<std::string> Pending() const;

 private:
  struct Entry {
    uint64_t build = 0;        // 0: pending (no build of this process runs it).
    absl::Time build_started;  // When its build began.
    absl::Time seen;           // When the output named it.
    int running_checks = 0;    // Sweeps that found it running.
  };
  void Saw(uint64_t build, const std::string& id);
  void Removed(uint64_t build, const std::string& id);
  void Ended(uint64_t build, bool keep);
  // Writes the state file from `entries_`. Call with mu_ held.
  void Persist() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  enum class SweepOutcome { kRemoved, kGone, kRunning, kRetry };
  // Checks and removes one container. kGone: absent, or not a step container
  // (the entry is dropped); kRetry: the engine did not answer.
  SweepOutcome SweepOne(const std::string& id, const Entry& entry);

  const std::shared_ptr<DockerEngine> engine_;
  const std::string state_file_;
  mutable absl::Mutex mu_;
  uint64_t next_build_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, absl::Time> builds_ ABSL_GUARDED_BY(mu_);  // Running: start time.
  std::map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  bool persist_warned_ ABSL_GUARDED_BY(mu_) = false;
  absl::Mutex sweep_mu_;  // One sweep at a time.
};

}  // namespace dkd::core
